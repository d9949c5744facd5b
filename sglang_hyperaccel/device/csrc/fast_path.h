// The typed unboxed fast path: templates that run an op's CPU kernel on CPU aliases (aliasing.h)
// through its typed redispatch. Only registration.cpp includes it, to register the hottest ops as
// Functional<...>::call and InPlace<...>::call.
//
// The hottest ops of a decoder forward (elementwise, norms, matmuls, gathers, attention) run on
// CPU aliases exactly as in the boxed fallback (fallback.cpp), but are called through their typed
// redispatch: no boxing of arguments onto a stack and back. Profiling a decode step showed the
// boxed round trip costing about as much as the aliasing itself for small tensors.
#pragma once

#include "aliasing.h"
#include "kernel_log.h"

#include <ATen/core/ATen_fwd.h>
#include <ATen/core/IListRef.h>
#include <ATen/core/List.h>
#include <ATen/core/Tensor.h>
#include <c10/core/DispatchKeySet.h>

#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace hyperaccel {

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
    const KernelSpan span(Op::name);
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
    const KernelSpan span(Op::name);
    Call call(/*same_device=*/true);
    Op::redispatch(kCpuKeys, ToCpu<at::Tensor&>::run(call, self),
                   ToCpu<P>::run(call, std::forward<P>(args))...);
    call.sync_written();
    return self;
  }
};

} // namespace hyperaccel
