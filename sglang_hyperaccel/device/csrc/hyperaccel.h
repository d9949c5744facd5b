// The emulated hyperaccel chip as a PyTorch PrivateUse1 device: the API shared by the
// translation units (runtime.cpp: devices, generators, guard, hooks; memory.cpp: allocator and
// accounting; aliasing, fallback, fast_path, native_ops: kernels, registered by registration.cpp;
// module.cpp: the Python binding).
//
// Memory is host RAM. Every byte a device tensor holds is counted against its chip's capacity,
// whether it came from the allocator (empty, resize) or was adopted from a CPU kernel's result.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/Storage.h>
#include <c10/core/StorageImpl.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hyperaccel {

// Device indices are int8 in c10; this bounds every per-device table.
constexpr c10::DeviceIndex kMaxDevices = 64;

// Sets the number of chips (the length of `capacities`) and each one's memory in bytes. Called
// once from Python at registration, before any tensor is made; until then there is one chip of
// unbounded memory.
void configure(const std::vector<uint64_t>& capacities);
c10::DeviceIndex device_count() noexcept;
c10::DeviceIndex current_device() noexcept;
// Checks the index; the current device is per thread, as with CUDA.
void set_device(c10::DeviceIndex index);
// `index`, or the current device if negative; raises if there is no such device.
c10::DeviceIndex resolve_device(c10::DeviceIndex index);
// Raises PyTorch's "The device index is out of range..." unless 0 <= index < device_count().
void check_device_index(int64_t index);

void set_capacity(c10::DeviceIndex index, uint64_t bytes);
uint64_t capacity(c10::DeviceIndex index);

// The PrivateUse1 allocator (64-byte aligned host memory, counted per device).
c10::Allocator* allocator();

// True for memory from the pinned host allocator (pinned.cpp): what `Tensor.is_pinned` asks.
bool is_pinned_ptr(const void* data);

// Wraps a CPU storage (a fresh kernel result) as device memory without copying: the returned
// DataPtr keeps `cpu` alive and releases the count when freed. Raises torch.OutOfMemoryError
// when the device cannot hold it.
c10::DataPtr adopt(c10::intrusive_ptr<c10::StorageImpl> cpu, c10::DeviceIndex device);
c10::Storage adopt_storage(c10::intrusive_ptr<c10::StorageImpl> cpu, c10::DeviceIndex device);

// The CPU generator that draws the random numbers of a hyperaccel generator, so that CPU
// kernels run in the fallback draw exactly what they would draw on CPU with the same seed.
const at::Generator& cpu_generator(const at::Generator& hyperaccel_generator);
const at::Generator& default_generator(c10::DeviceIndex index);

// The storage-format tag a hyperaccel tensor carries as backend metadata (serialization.cpp):
// 0 (plain strided) unless set; survives torch.save/load.
int64_t tensor_format(const at::Tensor& t);
void set_tensor_format(const at::Tensor& t, int64_t format);

} // namespace hyperaccel
