// The boxed CPU fallback: any op without a hyperaccel kernel runs its CPU kernel on CPU aliases
// of its device arguments (aliasing.h), with the results mapped back to device tensors. Also the
// convolution "overrideable" ops, run as the generic convolution ops on those aliases.
#include "kernel_log.h"
#include "aliasing.h"
#include "ops.h"

#include <ATen/core/List.h>
#include <ATen/core/function_schema.h>
#include <ATen/core/ivalue.h>
#include <c10/util/SmallVector.h>

#include <cstddef>
#include <utility>

namespace hyperaccel {
namespace {

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
// with the arguments at stack[base:], then results are mapped back as aliasing.h's header says.
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

} // namespace

void cpu_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  // The ops PyTorch implements only for CUDA (or MPS, cuDNN, sparse, nested, quantized) have no
  // CPU kernel to run; say so instead of the dispatcher's "Could not run ... from the 'CPU'
  // backend", which blames a device the user never asked for.
  TORCH_CHECK_NOT_IMPLEMENTED(
      op.hasComputedKernelForDispatchKey(c10::DispatchKey::CPU), "The operator '",
      op.schema().operator_name(), "' is not currently implemented for the hyperaccel device: it has ",
      "no hyperaccel kernel and no CPU kernel for hyperaccel's CPU fallback to run (PyTorch ",
      "provides it only for other devices). See docs/device.md.");
  const KernelSpan span(op.schema().name().c_str());
  run_on_cpu(op, stack, [&](torch::jit::Stack* cpu_stack, size_t /*base*/) {
    op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::CPU), cpu_stack);
  });
}

// Convolution picks its kernel by device; for PrivateUse1 it asks for the "overrideable" ops,
// which have no CPU kernel. Run the generic ops on the CPU aliases instead.
void convolution_overrideable(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  static const c10::OperatorHandle target =
      c10::Dispatcher::singleton().findSchemaOrThrow("aten::convolution", "");
  const KernelSpan span("aten::convolution");
  run_on_cpu(op, stack, [](torch::jit::Stack* cpu_stack, size_t /*base*/) {
    target.callBoxed(cpu_stack);
  });
}

void convolution_backward_overrideable(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  static const c10::OperatorHandle target =
      c10::Dispatcher::singleton().findSchemaOrThrow("aten::convolution_backward", "");
  const KernelSpan span("aten::convolution_backward");
  run_on_cpu(op, stack, [](torch::jit::Stack* cpu_stack, size_t base) {
    cpu_stack->insert(cpu_stack->begin() + static_cast<std::ptrdiff_t>(base) + 3,
                      c10::IValue());  // bias_sizes: None
    target.callBoxed(cpu_stack);
  });
}

} // namespace hyperaccel
