// The chip's activity as `torch.profiler` shows it on the device's own track (kineto.cpp): each
// kernel the device runs (its own kernels, the CPU fallback's runs on device memory, copies)
// recorded with its host-clock span while a profiler session collects PrivateUse1 activity.
// Recording costs one relaxed atomic load per kernel when no session is active.
#pragma once

#include <c10/core/Device.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace hyperaccel {

enum class KernelKind : uint8_t { kKernel, kMemcpy };

namespace kernel_log {

extern std::atomic<bool> active;

// Nanoseconds since the Unix epoch, the clock of the profiler's CPU events.
int64_t now_ns();

void record(std::string name, KernelKind kind, c10::DeviceIndex device, int64_t start_ns, int64_t end_ns);

} // namespace kernel_log

// Records the enclosing scope as one kernel when a session is collecting.
class KernelSpan {
 public:
  // `device` -1: the current device.
  explicit KernelSpan(const char* name, KernelKind kind = KernelKind::kKernel, c10::DeviceIndex device = -1)
      : name_(name), kind_(kind), device_(device),
        start_ns_(kernel_log::active.load(std::memory_order_relaxed) ? kernel_log::now_ns() : 0) {}
  KernelSpan(const KernelSpan&) = delete;
  KernelSpan& operator=(const KernelSpan&) = delete;
  ~KernelSpan();

 private:
  const char* name_;
  KernelKind kind_;
  c10::DeviceIndex device_;
  int64_t start_ns_;
};

} // namespace hyperaccel
