// Kernels of the hyperaccel device.
//
// Structural ops (allocation, views, copies, storage swaps) are native. Every other op falls
// back to its CPU kernel *in place*: device memory is host memory, so each device tensor
// argument is replaced by a CPU tensor aliasing the same bytes, the CPU kernel runs, and its
// results come back as device tensors:
//   - a result that is one of the argument aliases (in-place and out= ops) is the original
//     device tensor, with any metadata or storage change the kernel made copied onto it;
//   - a result on an argument's storage (a view) becomes a device view of that storage;
//   - a fresh result is adopted without copying and counted against the chip's memory.
#include "hyperaccel.h"

#include <ATen/EmptyTensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <ATen/native/DispatchStub.h>
#include <ATen/native/transformers/attention.h>
#include <ATen/Operators.h>
#include <ATen/ops/_fused_sdp_choice.h>
#include <ATen/ops/_local_scalar_dense_native.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/copy_native.h>
#include <ATen/ops/resize_native.h>
#include <ATen/ops/set_native.h>
#include <ATen/ops/view_native.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/DeviceGuard.h>
#include <c10/util/SmallVector.h>
#include <torch/library.h>

#include <tuple>
#include <utility>
#include <vector>

namespace hyperaccel {
namespace {

constexpr c10::DeviceType kChip = c10::DeviceType::PrivateUse1;
constexpr c10::DispatchKey kChipKey = c10::DispatchKey::PrivateUse1;

bool on_chip(const at::Tensor& t) {
  return t.defined() && t.device().type() == kChip;
}

at::Tensor make_tensor(c10::Storage storage, c10::DispatchKey key, const at::Tensor& like) {
  auto impl = c10::make_intrusive<c10::TensorImpl>(
      std::move(storage), c10::DispatchKeySet(key), like.dtype());
  impl->set_sizes_and_strides(like.sizes(), like.strides(), like.storage_offset());
  if (like.is_conj()) {
    impl->_set_conj(true);
  }
  if (like.is_neg()) {
    impl->_set_neg(true);
  }
  return at::Tensor(std::move(impl));
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
  at::Tensor to_cpu(const at::Tensor& t, bool written) {
    note_device(t.device().index());
    c10::TensorImpl* chip_impl = t.unsafeGetTensorImpl();
    for (auto& alias : tensors_) {
      if (alias.chip.unsafeGetTensorImpl() == chip_impl) {
        alias.written = alias.written || written;
        return alias.cpu;
      }
    }
    c10::StorageImpl* chip_storage = t.storage().unsafeGetStorageImpl();
    size_t slot = storages_.size();
    for (size_t i = 0; i < storages_.size(); ++i) {
      if (storages_[i].chip == chip_storage) {
        slot = i;
        break;
      }
    }
    if (slot == storages_.size()) {
      void* data = chip_storage->data_ptr().get();
      const size_t nbytes = chip_storage->nbytes();
      storages_.push_back(StorageAlias{
          chip_storage,
          c10::make_intrusive<c10::StorageImpl>(
              c10::StorageImpl::use_byte_size_t(), nbytes,
              c10::DataPtr(data, c10::Device(c10::DeviceType::CPU)), c10::GetCPUAllocator(),
              /*resizable=*/true),
          data, nbytes});
    }
    at::Tensor cpu = make_tensor(c10::Storage(storages_[slot].cpu), c10::DispatchKey::CPU, t);
    tensors_.push_back(TensorAlias{t, cpu, slot, written});
    return cpu;
  }

  // Carries what the kernel did to written arguments over to their device tensors: a storage
  // it grew (out= resize) is adopted, a storage it swapped (set_) is mapped, new sizes copied.
  void sync_written() {
    for (auto& alias : storages_) {
      void* data = alias.cpu->data_ptr().get();
      if (data != alias.data || alias.cpu->nbytes() != alias.nbytes) {
        alias.chip->set_data_ptr_noswap(adopt(alias.cpu, device()));
        alias.chip->set_nbytes(alias.cpu->nbytes());
        alias.data = data;
        alias.nbytes = alias.cpu->nbytes();
      }
    }
    for (auto& alias : tensors_) {
      if (!alias.written) {
        continue;
      }
      c10::TensorImpl* cpu = alias.cpu.unsafeGetTensorImpl();
      c10::TensorImpl* chip = alias.chip.unsafeGetTensorImpl();
      if (cpu->storage().unsafeGetStorageImpl() != storages_[alias.storage].cpu.get()) {
        chip->set_storage_keep_dtype(chip_storage(alias.cpu));
      }
      if (cpu->sizes() != chip->sizes() || cpu->strides() != chip->strides() ||
          cpu->storage_offset() != chip->storage_offset()) {
        chip->set_sizes_and_strides(cpu->sizes(), cpu->strides(), cpu->storage_offset());
      }
    }
  }

  // The device tensor for a CPU kernel result.
  at::Tensor to_device(const at::Tensor& t) {
    if (!t.defined() || t.device().type() != c10::DeviceType::CPU) {
      return t;
    }
    c10::TensorImpl* impl = t.unsafeGetTensorImpl();
    for (const auto& alias : tensors_) {
      if (alias.cpu.unsafeGetTensorImpl() == impl) {
        return alias.chip;
      }
    }
    return make_tensor(chip_storage(t), kChipKey, t);
  }

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
  c10::Storage chip_storage(const at::Tensor& t) {
    c10::StorageImpl* cpu = t.storage().unsafeGetStorageImpl();
    for (const auto& alias : storages_) {
      if (alias.cpu.get() == cpu) {
        return c10::Storage(c10::intrusive_ptr<c10::StorageImpl>::reclaim_copy(alias.chip));
      }
    }
    for (const auto& [from, to] : adopted_) {
      if (from == cpu) {
        return to;
      }
    }
    c10::Storage storage =
        adopt_storage(c10::intrusive_ptr<c10::StorageImpl>::reclaim_copy(cpu), device());
    adopted_.emplace_back(cpu, storage);
    return storage;
  }

  bool same_device_;
  c10::DeviceIndex device_ = -1;
  c10::SmallVector<StorageAlias, 4> storages_;
  c10::SmallVector<TensorAlias, 4> tensors_;
  c10::SmallVector<std::pair<c10::StorageImpl*, c10::Storage>, 2> adopted_;
};

bool is_written(const c10::Argument& argument) {
  const c10::AliasInfo* info = argument.alias_info();
  if (info == nullptr) {
    return false;
  }
  if (info->isWrite()) {
    return true;
  }
  for (const auto& inner : info->containedTypes()) {
    if (inner.isWrite()) {
      return true;
    }
  }
  return false;
}

bool is_optional_generator(const c10::Argument& argument) {
  const auto* optional = argument.type()->castRaw<c10::OptionalType>();
  return optional != nullptr && optional->getElementType()->kind() == c10::TypeKind::GeneratorType;
}

// Replaces device tensors in a Tensor[] or Tensor?[] argument; returns false if there are none.
template <typename List, typename Map>
bool map_list(List list, c10::IValue& slot, Map&& map) {
  bool any = false;
  for (size_t i = 0; i < list.size() && !any; ++i) {
    c10::IValue element = list.get(i);
    any = element.isTensor() && on_chip(element.toTensor());
  }
  if (!any) {
    return false;
  }
  List mapped = list.copy();
  for (size_t i = 0; i < mapped.size(); ++i) {
    c10::IValue element = mapped.get(i);
    if (element.isTensor()) {
      mapped.set(i, map(element.toTensor()));
    }
  }
  slot = c10::IValue(std::move(mapped));
  return true;
}

// Runs `op` on CPU aliases of its device arguments: `invoke(stack, base)` makes the CPU call
// with the arguments at stack[base:], then results are mapped back as the file header says.
template <typename Invoke>
void run_on_cpu(const c10::OperatorHandle& op, torch::jit::Stack* stack, Invoke&& invoke) {
  const auto& schema = op.schema();
  const auto& arguments = schema.arguments();
  const size_t base = stack->size() - arguments.size();
  Call call(/*same_device=*/true);
  c10::SmallVector<size_t, 2> default_generator_slots;

  for (size_t i = 0; i < arguments.size(); ++i) {
    c10::IValue& value = (*stack)[base + i];
    if (value.isTensor()) {
      const at::Tensor& t = value.toTensor();
      if (on_chip(t)) {
        value = call.to_cpu(t, is_written(arguments[i]));
      }
    } else if (value.isTensorList()) {
      const bool written = is_written(arguments[i]);
      map_list(value.toTensorList(), value, [&](const at::Tensor& t) {
        return on_chip(t) ? call.to_cpu(t, written) : t;
      });
    } else if (value.isList()) {
      const bool written = is_written(arguments[i]);
      map_list(value.toList(), value, [&](const at::Tensor& t) {
        return c10::IValue(on_chip(t) ? call.to_cpu(t, written) : t);
      });
    } else if (value.isDevice()) {
      const c10::Device device = value.toDevice();
      if (device.type() == kChip) {
        call.note_device(device.index());
        value = c10::IValue(c10::Device(c10::DeviceType::CPU));
      }
    } else if (value.isGenerator()) {
      const at::Generator generator = value.toGenerator();
      if (generator.defined() && generator.device().type() == kChip) {
        value = c10::IValue(cpu_generator(generator));
      }
    } else if (value.isNone() && is_optional_generator(arguments[i])) {
      default_generator_slots.push_back(base + i);
    }
  }
  for (const size_t slot : default_generator_slots) {
    (*stack)[slot] = c10::IValue(cpu_generator(default_generator(call.device())));
  }

  invoke(stack, base);
  call.sync_written();

  const size_t returns = schema.returns().size();
  for (size_t i = stack->size() - returns; i < stack->size(); ++i) {
    c10::IValue& value = (*stack)[i];
    if (value.isTensor()) {
      value = call.to_device(value.toTensor());
    } else if (value.isTensorList()) {
      auto list = value.toTensorList();
      c10::List<at::Tensor> mapped;
      mapped.reserve(list.size());
      for (size_t j = 0; j < list.size(); ++j) {
        mapped.push_back(call.to_device(list.get(j)));
      }
      value = c10::IValue(std::move(mapped));
    } else if (value.isList()) {
      auto list = value.toList().copy();
      for (size_t j = 0; j < list.size(); ++j) {
        c10::IValue element = list.get(j);
        if (element.isTensor()) {
          list.set(j, c10::IValue(call.to_device(element.toTensor())));
        }
      }
      value = c10::IValue(std::move(list));
    }
  }
}

void cpu_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  run_on_cpu(op, stack, [&](torch::jit::Stack* cpu_stack, size_t /*base*/) {
    op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::CPU), cpu_stack);
  });
}

// Convolution picks its kernel by device; for PrivateUse1 it asks for the "overrideable" ops,
// which have no CPU kernel. Run the generic ops on the CPU aliases instead.
void convolution_overrideable(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  static const c10::OperatorHandle target =
      c10::Dispatcher::singleton().findSchemaOrThrow("aten::convolution", "");
  run_on_cpu(op, stack, [](torch::jit::Stack* cpu_stack, size_t /*base*/) {
    target.callBoxed(cpu_stack);
  });
}

void convolution_backward_overrideable(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  static const c10::OperatorHandle target =
      c10::Dispatcher::singleton().findSchemaOrThrow("aten::convolution_backward", "");
  run_on_cpu(op, stack, [](torch::jit::Stack* cpu_stack, size_t base) {
    cpu_stack->insert(cpu_stack->begin() + static_cast<std::ptrdiff_t>(base) + 3,
                      c10::IValue());  // bias_sizes: None
    target.callBoxed(cpu_stack);
  });
}

// ---------------------------------------------------------------------------------------------
// Unboxed fast path: the hottest ops of a decoder forward (elementwise, norms, matmuls, gathers,
// attention) run on CPU aliases exactly as in the boxed fallback above, but are called through
// their typed redispatch: no boxing of arguments onto a stack and back. Profiling a decode step
// showed the boxed round trip costing about as much as the aliasing itself for small tensors.
// ---------------------------------------------------------------------------------------------

const c10::DispatchKeySet kCpuKeys(c10::DispatchKey::CPU);

// The CPU-side value of one argument, by its declared type: device tensors become aliases (written
// for mutable `Tensor&`), tensor lists alias their device elements, everything else passes as is.
template <class P>
struct ToCpu {
  static P run(Call& /*call*/, P value) {
    return std::forward<P>(value);
  }
};

template <>
struct ToCpu<const at::Tensor&> {
  static at::Tensor run(Call& call, const at::Tensor& t) {
    return on_chip(t) ? call.to_cpu(t, false) : t;
  }
};

template <>
struct ToCpu<const std::optional<at::Tensor>&> {
  static std::optional<at::Tensor> run(Call& call, const std::optional<at::Tensor>& t) {
    if (t.has_value() && on_chip(*t)) {
      return call.to_cpu(*t, false);
    }
    return t;
  }
};

// An lvalue the CPU kernel may write through; lives until the end of the call expression.
struct WrittenAlias {
  at::Tensor cpu;
  operator at::Tensor&() && {
    return cpu;
  }
};

template <>
struct ToCpu<at::Tensor&> {
  static WrittenAlias run(Call& call, at::Tensor& t) {
    return WrittenAlias{on_chip(t) ? call.to_cpu(t, true) : t};
  }
};

template <>
struct ToCpu<const c10::List<std::optional<at::Tensor>>&> {
  static c10::List<std::optional<at::Tensor>> run(Call& call,
                                                  const c10::List<std::optional<at::Tensor>>& list) {
    c10::List<std::optional<at::Tensor>> mapped;
    mapped.reserve(list.size());
    for (const std::optional<at::Tensor>& t : list) {
      mapped.push_back(ToCpu<const std::optional<at::Tensor>&>::run(call, t));
    }
    return mapped;
  }
};

// Keeps the aliases of a tensor list alive while the kernel sees them as an ITensorListRef.
struct TensorListAlias {
  std::vector<at::Tensor> cpu;
  operator at::ITensorListRef() const {
    return at::ITensorListRef(cpu);
  }
};

template <>
struct ToCpu<const at::ITensorListRef&> {
  static TensorListAlias run(Call& call, const at::ITensorListRef& list) {
    TensorListAlias alias;
    alias.cpu.reserve(list.size());
    for (const at::Tensor& t : list) {
      alias.cpu.push_back(on_chip(t) ? call.to_cpu(t, false) : t);
    }
    return alias;
  }
};

inline at::Tensor to_device(Call& call, const at::Tensor& t) {
  return call.to_device(t);
}

template <class... T>
std::tuple<T...> to_device(Call& call, std::tuple<T...>&& results) {
  return std::apply([&](auto&&... r) { return std::tuple<T...>(call.to_device(r)...); },
                    std::move(results));
}

// A functional op: fresh (or view) results mapped back as by the boxed fallback.
template <class Op, class Sig = typename Op::schema>
struct Functional;

template <class Op, class R, class... P>
struct Functional<Op, R(P...)> {
  static R call(P... args) {
    Call call(/*same_device=*/true);
    auto result = Op::redispatch(kCpuKeys, ToCpu<P>::run(call, std::forward<P>(args))...);
    call.sync_written();
    return to_device(call, std::move(result));
  }
};

// An in-place op (`self` first, returned): the kernel writes through the alias of `self`.
template <class Op, class Sig = typename Op::schema>
struct InPlace;

template <class Op, class... P>
struct InPlace<Op, at::Tensor&(at::Tensor&, P...)> {
  static at::Tensor& call(at::Tensor& self, P... args) {
    Call call(/*same_device=*/true);
    Op::redispatch(kCpuKeys, ToCpu<at::Tensor&>::run(call, self),
                   ToCpu<P>::run(call, std::forward<P>(args))...);
    call.sync_written();
    return self;
  }
};

// ---------------------------------------------------------------------------------------------
// Native structural ops
// ---------------------------------------------------------------------------------------------

at::Tensor empty_memory_format(
    c10::IntArrayRef size, std::optional<c10::ScalarType> dtype,
    std::optional<c10::Layout> layout, std::optional<c10::Device> device,
    std::optional<bool> pin_memory, std::optional<c10::MemoryFormat> memory_format) {
  TORCH_CHECK(c10::layout_or_default(layout) == c10::Layout::Strided,
              "hyperaccel supports only strided tensors");
  TORCH_CHECK(!c10::pinned_memory_or_default(pin_memory), "Pin memory can only be on CPU");
  const c10::DeviceGuard guard(c10::device_or_default(device));
  return at::detail::empty_generic(size, allocator(), c10::DispatchKeySet(kChipKey),
                                   c10::dtype_or_default(dtype), memory_format);
}

at::Tensor empty_strided(
    c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<c10::ScalarType> dtype,
    std::optional<c10::Layout> layout, std::optional<c10::Device> device,
    std::optional<bool> pin_memory) {
  TORCH_CHECK(c10::layout_or_default(layout) == c10::Layout::Strided,
              "hyperaccel supports only strided tensors");
  TORCH_CHECK(!c10::pinned_memory_or_default(pin_memory), "Pin memory can only be on CPU");
  const c10::DeviceGuard guard(c10::device_or_default(device));
  return at::detail::empty_strided_generic(size, stride, allocator(), c10::DispatchKeySet(kChipKey),
                                           c10::dtype_or_default(dtype));
}

at::Tensor as_strided(const at::Tensor& self, c10::SymIntArrayRef size,
                      c10::SymIntArrayRef stride, std::optional<c10::SymInt> storage_offset) {
  std::optional<int64_t> offset;
  if (storage_offset.has_value()) {
    offset = storage_offset->expect_int();
  }
  return at::native::as_strided_tensorimpl(
      self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride), offset);
}

at::Tensor view(const at::Tensor& self, c10::SymIntArrayRef size) {
  return at::native::view(self, C10_AS_INTARRAYREF_SLOW(size));
}

at::Tensor reshape_alias(const at::Tensor& self, c10::SymIntArrayRef size,
                         c10::SymIntArrayRef stride) {
  return at::native::_reshape_alias(
      self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride));
}

// Growing storage allocates on the tensor's own device, whatever the current device is.
const at::Tensor& resize_(const at::Tensor& self, c10::SymIntArrayRef size,
                          std::optional<c10::MemoryFormat> memory_format) {
  const c10::DeviceGuard guard(self.device());
  return at::native::resize_(self, C10_AS_INTARRAYREF_SLOW(size), memory_format);
}

// cpu <-> hyperaccel and hyperaccel <-> hyperaccel: a real copy between host buffers, done by
// the CPU copy kernel (dtype conversion, strides, threads) on aliases of both ends.
at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool non_blocking) {
  Call call(/*same_device=*/false);
  const at::Tensor src = on_chip(self) ? call.to_cpu(self, false) : self;
  at::Tensor target = on_chip(dst) ? call.to_cpu(dst, true) : dst;
  at::native::copy_(target, src, non_blocking);
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  if (on_chip(dst)) {
    const c10::DeviceGuard guard(dst.device());
    at::native::resize_(dst, self.sizes(), std::nullopt);
  } else {
    at::native::resize_(dst, self.sizes(), std::nullopt);
  }
  return copy_from(self, dst, false);
}

at::Scalar local_scalar_dense(const at::Tensor& self) {
  Call call(/*same_device=*/false);
  return at::native::_local_scalar_dense_cpu(call.to_cpu(self, false));
}

at::Tensor& set_storage(at::Tensor& self, c10::Storage source, int64_t storage_offset,
                        c10::IntArrayRef size, c10::IntArrayRef stride) {
  const c10::DeviceGuard guard(self.device());
  return at::native::set_storage_cpu_(self, std::move(source), storage_offset, size, stride);
}

at::Tensor& set_source_storage(at::Tensor& self, c10::Storage source) {
  return at::native::set_(self, std::move(source));
}

at::Tensor& set_source_tensor(at::Tensor& self, const at::Tensor& source) {
  return at::native::set_tensor_(self, source);
}

at::Tensor& set_empty(at::Tensor& self) {
  const c10::DeviceGuard guard(self.device());
  c10::Storage storage(c10::Storage::use_byte_size_t(), 0, allocator(), /*resizable=*/true);
  return at::native::set_storage_cpu_(self, std::move(storage), 0, {0}, {});
}

// Work is synchronous, so memory is never in use by another stream.
void record_stream(at::Tensor& /*self*/, c10::Stream /*stream*/) {}

// Scaled dot-product attention picks its kernel as it would for the same tensors on CPU.
int64_t fused_sdp_choice(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                         const std::optional<at::Tensor>& attn_mask, double dropout_p,
                         bool is_causal, std::optional<double> scale, bool enable_gqa) {
  Call call(/*same_device=*/true);
  std::optional<at::Tensor> mask;
  if (attn_mask.has_value() && attn_mask->defined()) {
    mask = on_chip(*attn_mask) ? call.to_cpu(*attn_mask, false) : *attn_mask;
  }
  return at::_fused_sdp_choice(call.to_cpu(query, false), call.to_cpu(key, false),
                               call.to_cpu(value, false), mask, dropout_p, is_causal, scale,
                               enable_gqa);
}

} // namespace

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", empty_memory_format);
  m.impl("empty_strided", empty_strided);
  m.impl("as_strided", as_strided);
  m.impl("view", view);
  m.impl("_reshape_alias", reshape_alias);
  m.impl("resize_", resize_);
  m.impl("_copy_from", copy_from);
  m.impl("_copy_from_and_resize", copy_from_and_resize);
  m.impl("_local_scalar_dense", local_scalar_dense);
  m.impl("set_.source_Storage_storage_offset", set_storage);
  m.impl("set_.source_Storage", set_source_storage);
  m.impl("set_.source_Tensor", set_source_tensor);
  m.impl("set_", set_empty);
  m.impl("record_stream", record_stream);
  m.impl("convolution_overrideable",
         torch::CppFunction::makeFromBoxedFunction<&convolution_overrideable>());
  m.impl("convolution_backward_overrideable",
         torch::CppFunction::makeFromBoxedFunction<&convolution_backward_overrideable>());

  // The unboxed fast path (see above); every other op takes the boxed fallback.
  m.impl("add.Tensor", TORCH_FN(Functional<at::_ops::add_Tensor>::call));
  m.impl("sub.Tensor", TORCH_FN(Functional<at::_ops::sub_Tensor>::call));
  m.impl("mul.Tensor", TORCH_FN(Functional<at::_ops::mul_Tensor>::call));
  m.impl("div.Tensor", TORCH_FN(Functional<at::_ops::div_Tensor>::call));
  m.impl("neg", TORCH_FN(Functional<at::_ops::neg>::call));
  m.impl("exp", TORCH_FN(Functional<at::_ops::exp>::call));
  m.impl("cos", TORCH_FN(Functional<at::_ops::cos>::call));
  m.impl("sin", TORCH_FN(Functional<at::_ops::sin>::call));
  m.impl("sigmoid", TORCH_FN(Functional<at::_ops::sigmoid>::call));
  m.impl("gelu", TORCH_FN(Functional<at::_ops::gelu>::call));
  m.impl("clamp", TORCH_FN(Functional<at::_ops::clamp>::call));
  m.impl("pow.Tensor_Scalar", TORCH_FN(Functional<at::_ops::pow_Tensor_Scalar>::call));
  m.impl("rsqrt", TORCH_FN(Functional<at::_ops::rsqrt>::call));
  m.impl("silu", TORCH_FN(Functional<at::_ops::silu>::call));
  m.impl("mean.dim", TORCH_FN(Functional<at::_ops::mean_dim>::call));
  m.impl("sum.dim_IntList", TORCH_FN(Functional<at::_ops::sum_dim_IntList>::call));
  m.impl("_softmax", TORCH_FN(Functional<at::_ops::_softmax>::call));
  m.impl("_log_softmax", TORCH_FN(Functional<at::_ops::_log_softmax>::call));
  m.impl("argmax", TORCH_FN(Functional<at::_ops::argmax>::call));
  m.impl("topk", TORCH_FN(Functional<at::_ops::topk>::call));
  m.impl("where.self", TORCH_FN(Functional<at::_ops::where_self>::call));
  m.impl("mm", TORCH_FN(Functional<at::_ops::mm>::call));
  m.impl("addmm", TORCH_FN(Functional<at::_ops::addmm>::call));
  m.impl("bmm", TORCH_FN(Functional<at::_ops::bmm>::call));
  m.impl("cat", TORCH_FN(Functional<at::_ops::cat>::call));
  m.impl("index_select", TORCH_FN(Functional<at::_ops::index_select>::call));
  m.impl("index.Tensor", TORCH_FN(Functional<at::_ops::index_Tensor>::call));
  m.impl("_scaled_dot_product_flash_attention_for_cpu",
         TORCH_FN(Functional<at::_ops::_scaled_dot_product_flash_attention_for_cpu>::call));
  m.impl("_index_put_impl_", TORCH_FN(InPlace<at::_ops::_index_put_impl_>::call));
  m.impl("add_.Tensor", TORCH_FN(InPlace<at::_ops::add__Tensor>::call));
  m.impl("mul_.Tensor", TORCH_FN(InPlace<at::_ops::mul__Tensor>::call));
  m.impl("div_.Tensor", TORCH_FN(InPlace<at::_ops::div__Tensor>::call));
  m.impl("fill_.Scalar", TORCH_FN(InPlace<at::_ops::fill__Scalar>::call));
  m.impl("zero_", TORCH_FN(InPlace<at::_ops::zero_>::call));
  m.impl("masked_fill_.Scalar", TORCH_FN(InPlace<at::_ops::masked_fill__Scalar>::call));

  // These ops have a CPU kernel and also a CompositeExplicitAutograd one, which PrivateUse1
  // would take over the fallback: slower, and rounding differently from CPU (layer norm).
  for (const char* name :
       {"native_layer_norm", "native_group_norm", "addr", "addr.out", "all.dims_out",
        "any.dims_out", "narrow_copy", "pixel_shuffle", "pixel_unshuffle", "_stack",
        "_stack.out", "linalg__powsum"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&cpu_fallback>());
  }
}

// _copy_from copies conjugate and negative views itself (the CPU copy kernel resolves the
// bits); without these fallthroughs their fallbacks would materialise the source by a clone,
// which copies through _copy_from again, forever.
TORCH_LIBRARY_IMPL(aten, Conjugate, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(aten, Negative, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&cpu_fallback>());
}

} // namespace hyperaccel

namespace at::native {
REGISTER_PRIVATEUSE1_DISPATCH(_fused_sdp_choice_stub, &hyperaccel::fused_sdp_choice);
} // namespace at::native
