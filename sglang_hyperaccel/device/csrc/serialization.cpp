// Backend metadata of hyperaccel tensors and its save/load hooks (OpenReg's OpenRegSerialization):
// what `torch._utils.get_tensor_metadata` / `set_tensor_metadata` carry through torch.save/load.
//
// The metadata is the tensor's storage format: which layout the chip's DMA reads its bytes in
// (0 = PyTorch's plain strided layout), the slot a real accelerator uses for a packed weight
// layout (as Ascend's NPU format). The emulated chip never repacks bytes, so nothing but the user
// sets it; it exists so that a format survives serialization. PyTorch's hook map holds only
// booleans, so the format travels as its set bits, `hyperaccel_format_bit<k>`.
#include "hyperaccel.h"

#include <ATen/core/Tensor.h>
#include <c10/core/TensorImpl.h>
#include <torch/csrc/jit/serialization/pickler_helper.h>

#include <string>
#include <unordered_map>

namespace hyperaccel {
namespace {

constexpr int kFormatBits = 8;
const std::string kPrefix = "hyperaccel_format_bit";

struct ChipTensorMeta final : public c10::BackendMeta {
  explicit ChipTensorMeta(int64_t format) : format(format) {}
  c10::intrusive_ptr<c10::BackendMeta> clone(const c10::intrusive_ptr<c10::BackendMeta>& ptr) const override {
    return c10::make_intrusive<ChipTensorMeta>(format);
  }
  int64_t format;
};

void save_meta(const at::Tensor& t, std::unordered_map<std::string, bool>& metadata) {
  const int64_t format = tensor_format(t);
  for (int k = 0; k < kFormatBits; ++k) {
    if ((format >> k) & 1) {
      metadata[kPrefix + std::to_string(k)] = true;
    }
  }
}

void load_meta(const at::Tensor& t, std::unordered_map<std::string, bool>& metadata) {
  int64_t format = 0;
  for (int k = 0; k < kFormatBits; ++k) {
    const auto it = metadata.find(kPrefix + std::to_string(k));
    if (it != metadata.end() && it->second) {
      format |= int64_t{1} << k;
    }
  }
  if (format != 0) {
    set_tensor_format(t, format);
  }
}

[[maybe_unused]] const bool g_registered = [] {
  torch::jit::TensorBackendMetaRegistry(c10::DeviceType::PrivateUse1, &save_meta, &load_meta);
  return true;
}();

} // namespace

int64_t tensor_format(const at::Tensor& t) {
  const auto* meta = dynamic_cast<const ChipTensorMeta*>(t.unsafeGetTensorImpl()->get_backend_meta());
  return meta == nullptr ? 0 : meta->format;
}

void set_tensor_format(const at::Tensor& t, int64_t format) {
  TORCH_CHECK(t.device().type() == c10::DeviceType::PrivateUse1,
              "set_tensor_format: expected a hyperaccel tensor, got one on ", t.device());
  TORCH_CHECK(format >= 0 && format < (int64_t{1} << kFormatBits),
              "set_tensor_format: format must be in [0, ", int64_t{1} << kFormatBits, "), got ", format);
  t.unsafeGetTensorImpl()->set_backend_meta(c10::make_intrusive<ChipTensorMeta>(format));
}

} // namespace hyperaccel
