// Zero-copy CPU aliases of device memory, shared by the kernels (fallback.cpp, fast_path.h,
// native_ops.cpp): `Call` hands a CPU kernel CPU tensors over the device tensors' bytes and maps
// its results back to device tensors. Defined in aliasing.cpp.
//
// Structural ops (allocation, views, copies, storage swaps) are native. Every other op falls
// back to its CPU kernel *in place*: device memory is host memory, so each device tensor
// argument is replaced by a CPU tensor aliasing the same bytes, the CPU kernel runs, and its
// results come back as device tensors:
//   - a result that is one of the argument aliases (in-place and out= ops) is the original
//     device tensor, with any metadata or storage change the kernel made copied onto it;
//   - a result on an argument's storage (a view) becomes a device view of that storage;
//   - a fresh result is adopted without copying and counted against the chip's memory.
#pragma once

#include "hyperaccel.h"

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <c10/core/DispatchKey.h>
#include <c10/util/Exception.h>
#include <c10/util/SmallVector.h>

#include <cstddef>
#include <utility>

namespace hyperaccel {

constexpr c10::DeviceType kChip = c10::DeviceType::PrivateUse1;
constexpr c10::DispatchKey kChipKey = c10::DispatchKey::PrivateUse1;

inline bool on_chip(const at::Tensor& t) {
  return t.defined() && t.device().type() == kChip;
}

// The CPU view of device memory for the duration of one kernel call.
class Call {
 public:
  explicit Call(bool same_device) : same_device_(same_device) {}

  void note_device(c10::DeviceIndex index) {
    if (index < 0) {
      index = current_device();
    }
    if (device_ < 0) {
      device_ = index;
    } else if (same_device_) {
      TORCH_CHECK(
          index == device_,
          "Expected all tensors to be on the same device, but found at least two devices, ",
          c10::Device(kChip, device_), " and ", c10::Device(kChip, index), "!");
    }
  }

  c10::DeviceIndex device() const {
    return device_ < 0 ? current_device() : device_;
  }

  // A CPU tensor over the same bytes as device tensor `t`. Views of one device storage share
  // one CPU storage, so CPU kernels see their overlap as they would on CPU.
  at::Tensor to_cpu(const at::Tensor& t, bool written);

  // Carries what the kernel did to written arguments over to their device tensors: a storage
  // it grew (out= resize) is adopted, a storage it swapped (set_) is mapped, new sizes copied.
  void sync_written();

  // The device tensor for a CPU kernel result.
  at::Tensor to_device(const at::Tensor& t);

 private:
  struct StorageAlias {
    c10::StorageImpl* chip;
    c10::intrusive_ptr<c10::StorageImpl> cpu;
    void* data;
    size_t nbytes;
  };
  struct TensorAlias {
    at::Tensor chip;
    at::Tensor cpu;
    size_t storage;
    bool written;
  };

  // The device storage behind CPU tensor `t`: an argument's storage, or its own, adopted.
  c10::Storage chip_storage(const at::Tensor& t);

  bool same_device_;
  c10::DeviceIndex device_ = -1;
  c10::SmallVector<StorageAlias, 4> storages_;
  c10::SmallVector<TensorAlias, 4> tensors_;
  c10::SmallVector<std::pair<c10::StorageImpl*, c10::Storage>, 2> adopted_;
};

} // namespace hyperaccel
