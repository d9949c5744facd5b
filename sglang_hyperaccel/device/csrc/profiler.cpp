// The chip's side of `torch.autograd.profiler.profile(use_device="hyperaccel")`: the PrivateUse1
// profiler stubs (OpenReg's stubs/openreg.cpp). Without them every recorded op raised "PrivateUse1
// used in profiler but not enabled" inside the profiler's callbacks and the CPU event times that
// came back were garbage. Work is synchronous, so a device event is the host clock at record time
// and an op's device time is the host time it took: the profiler reports it as the op's kernel on
// the hyperaccel track (`device_time`, the `hyperaccel` columns of the table).
#include "hyperaccel.h"

#include <c10/core/DeviceGuard.h>
#include <c10/util/ApproximateClock.h>
#include <torch/csrc/profiler/stubs/base.h>

#include <chrono>
#include <memory>

namespace hyperaccel {
namespace {

using torch::profiler::impl::ProfilerVoidEventStub;

struct ChipEvent {
  std::chrono::steady_clock::time_point at;
};

struct ChipProfilerStubs final : public torch::profiler::impl::ProfilerStubs {
  void record(c10::DeviceIndex* device, ProfilerVoidEventStub* event, int64_t* cpu_ns) const override {
    if (device != nullptr) {
      *device = current_device();
    }
    if (cpu_ns != nullptr) {
      *cpu_ns = c10::getTime();
    }
    *event = std::make_shared<ChipEvent>(ChipEvent{std::chrono::steady_clock::now()});
  }

  // Microseconds between two recorded events.
  float elapsed(const ProfilerVoidEventStub* start, const ProfilerVoidEventStub* end) const override {
    if (start == nullptr || end == nullptr || !*start || !*end) {
      return 0.f;
    }
    const auto* a = static_cast<const ChipEvent*>(start->get());
    const auto* b = static_cast<const ChipEvent*>(end->get());
    return std::chrono::duration<float, std::micro>(b->at - a->at).count();
  }

  // No annotation API on the chip (CUDA's are NVTX ranges).
  void mark(const char* /*name*/) const override {}
  void rangePush(const char* /*name*/) const override {}
  void rangePop() const override {}

  void onEachDevice(std::function<void(int)> op) const override {
    c10::DeviceGuard guard(c10::Device(c10::DeviceType::PrivateUse1, current_device()));
    for (c10::DeviceIndex i = 0; i < device_count(); ++i) {
      guard.set_index(i);
      op(i);
    }
  }

  // Work is synchronous: nothing to wait for.
  void synchronize() const override {}

  bool enabled() const override {
    return true;
  }
};

[[maybe_unused]] const bool g_registered = [] {
  static ChipProfilerStubs stubs;
  torch::profiler::impl::registerPrivateUse1Methods(&stubs);
  return true;
}();

} // namespace
} // namespace hyperaccel
