// The chip on its own track in `torch.profiler`: a Kineto activity profiler for PrivateUse1
// (PyTorch's REGISTER_PRIVATEUSE1_PROFILER, the counterpart of OpenReg's OpenRegActivityProfiler).
// With `torch.profiler.profile(activities=[..., ProfilerActivity.PrivateUse1])` (or
// `use_device="hyperaccel"`), each kernel the device ran appears as a device kernel: on the
// `hyperaccel` process track of the exported Chrome trace, linked to the aten op that launched
// it, and counted as that op's device time in `key_averages()`.
//
// Work is synchronous, so a kernel's span is the host time it took. The chip's *simulated* time
// (what the LPU would take) belongs to SGLang's forward batches and stays on the platform's
// timeline (platform/timeline.py).
#include "hyperaccel.h"
#include "kernel_log.h"

#include <torch/csrc/profiler/standalone/privateuse1_profiler.h>

#include <GenericTraceActivity.h>
#include <IActivityProfiler.h>
#include <libkineto.h>  // CpuTraceBuffer, complete for the session's unique_ptr
#include <output_base.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace hyperaccel {
namespace kernel_log {

std::atomic<bool> active{false};

namespace {

struct Record {
  std::string name;
  KernelKind kind;
  c10::DeviceIndex device;
  int64_t start_ns;
  int64_t end_ns;
  uint64_t correlation;
};

std::mutex mutex;
std::vector<Record> records;
// The correlation id of the aten op running on this thread (Kineto pushes one per op).
thread_local std::vector<uint64_t> correlations;

} // namespace

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

void record(std::string name, KernelKind kind, c10::DeviceIndex device, int64_t start_ns, int64_t end_ns) {
  const uint64_t correlation = correlations.empty() ? 0 : correlations.back();
  std::lock_guard<std::mutex> lock(mutex);
  records.push_back(Record{std::move(name), kind, device, start_ns, end_ns, correlation});
}

} // namespace kernel_log

KernelSpan::~KernelSpan() {
  if (start_ns_ != 0 && kernel_log::active.load(std::memory_order_relaxed)) {
    kernel_log::record(name_, kind_, device_ < 0 ? current_device() : device_, start_ns_,
                       kernel_log::now_ns());
  }
}

namespace {

using libkineto::ActivityType;

const std::set<ActivityType>& chip_activities() {
  static const std::set<ActivityType> activities = {ActivityType::CONCURRENT_KERNEL,
                                                    ActivityType::GPU_MEMCPY};
  return activities;
}

class ChipSession final : public libkineto::IActivityProfilerSession {
 public:
  void start() override {
    {
      std::lock_guard<std::mutex> lock(kernel_log::mutex);
      kernel_log::records.clear();
    }
    kernel_log::active.store(true);
    status_ = libkineto::TraceStatus::RECORDING;
  }

  void stop() override {
    kernel_log::active.store(false);
    std::lock_guard<std::mutex> lock(kernel_log::mutex);
    taken_ = std::move(kernel_log::records);
    kernel_log::records.clear();
    status_ = libkineto::TraceStatus::PROCESSING;
  }

  std::vector<std::string> errors() override { return {}; }

  void processTrace(libkineto::ActivityLogger& logger) override {
    processTrace(logger, nullptr, 0, 0);
  }

  void processTrace(libkineto::ActivityLogger& logger, libkineto::getLinkedActivityCallback linked,
                    int64_t /*start*/, int64_t /*end*/) override {
    activities_.clear();
    activities_.reserve(taken_.size());
    for (const auto& r : taken_) {
      auto& act = activities_.emplace_back(
          span_, r.kind == KernelKind::kMemcpy ? ActivityType::GPU_MEMCPY : ActivityType::CONCURRENT_KERNEL,
          r.name);
      act.startTime = r.start_ns;
      act.endTime = r.end_ns;
      act.device = r.device;
      act.resource = 0;  // one (synchronous) stream per chip
      act.id = static_cast<int32_t>(r.correlation);
      if (linked && r.correlation != 0) {  // the aten op that launched it: its device time
        act.linked = linked(static_cast<int32_t>(r.correlation));
      }
    }
    for (const auto& act : activities_) {
      logger.handleGenericActivity(act);
    }
  }

  std::unique_ptr<libkineto::DeviceInfo> getDeviceInfo() override {
    return std::make_unique<libkineto::DeviceInfo>(
        libkineto::DeviceInfo{0, 0, "hyperaccel", "hyperaccel (emulated LPU)"});
  }

  std::vector<libkineto::ResourceInfo> getResourceInfos() override {
    return {libkineto::ResourceInfo{0, 0, 0, "stream 0"}};
  }

  std::unique_ptr<libkineto::CpuTraceBuffer> getTraceBuffer() override { return nullptr; }

  void pushCorrelationId(uint64_t id) override { kernel_log::correlations.push_back(id); }

  void popCorrelationId() override {
    if (!kernel_log::correlations.empty()) {
      kernel_log::correlations.pop_back();
    }
  }

 private:
  libkineto::TraceSpan span_{0, 0, "hyperaccel"};
  std::vector<kernel_log::Record> taken_;
  std::vector<libkineto::GenericTraceActivity> activities_;
};

class ChipActivityProfiler final : public libkineto::IActivityProfiler {
 public:
  const std::string& name() const override { return name_; }

  const std::set<ActivityType>& availableActivities() const override { return chip_activities(); }

  std::unique_ptr<libkineto::IActivityProfilerSession> configure(
      const std::set<ActivityType>& activity_types, const libkineto::Config& /*config*/) override {
    for (ActivityType type : activity_types) {
      if (chip_activities().count(type) != 0) {
        return std::make_unique<ChipSession>();
      }
    }
    return nullptr;
  }

  std::unique_ptr<libkineto::IActivityProfilerSession> configure(
      int64_t /*ts_ms*/, int64_t /*duration_ms*/, const std::set<ActivityType>& activity_types,
      const libkineto::Config& config) override {
    return configure(activity_types, config);
  }

 private:
  std::string name_ = "hyperaccel";
};

REGISTER_PRIVATEUSE1_PROFILER(ChipActivityProfiler);

} // namespace
} // namespace hyperaccel
