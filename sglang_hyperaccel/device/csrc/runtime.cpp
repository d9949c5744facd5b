// The chip's runtime: device selection, generators, the device guard (streams and events, all
// synchronous) and the PrivateUse1 hooks that make `hyperaccel` the current accelerator.
#include "hyperaccel.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/GeneratorForPrivateuseone.h>
#include <ATen/core/CachingHostAllocator.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/DeviceCapability.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>

namespace hyperaccel {
namespace {

using c10::DeviceIndex;

constexpr c10::DeviceType kType = c10::DeviceType::PrivateUse1;

std::atomic<DeviceIndex> g_count{1};
thread_local DeviceIndex t_current = 0;

// ---------------------------------------------------------------------------------------------
// Generators: a hyperaccel generator owns a CPU generator that CPU kernels draw from.
// ---------------------------------------------------------------------------------------------

class ChipGenerator final : public c10::GeneratorImpl {
 public:
  ChipGenerator(DeviceIndex device, at::Generator cpu)
      : c10::GeneratorImpl(c10::Device(kType, device), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1)),
        cpu_(std::move(cpu)) {}

  static c10::DeviceType device_type() {
    return kType;
  }

  const at::Generator& cpu() const {
    return cpu_;
  }

  void set_current_seed(uint64_t seed) override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    impl()->set_current_seed(seed);
  }
  void set_offset(uint64_t offset) override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    impl()->set_offset(offset);
  }
  uint64_t get_offset() const override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    return impl()->get_offset();
  }
  uint64_t current_seed() const override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    return impl()->current_seed();
  }
  uint64_t seed() override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    return impl()->seed();
  }
  void set_state(const c10::TensorImpl& state) override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    impl()->set_state(state);
  }
  c10::intrusive_ptr<c10::TensorImpl> get_state() const override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    return impl()->get_state();
  }

 private:
  ChipGenerator* clone_impl() const override {
    std::lock_guard<std::mutex> lock(impl()->mutex_);
    return new ChipGenerator(device().index(), cpu_.clone());
  }
  c10::GeneratorImpl* impl() const {
    return cpu_.unsafeGetGeneratorImpl();
  }

  at::Generator cpu_;
};

at::Generator new_generator(DeviceIndex device) {
  return at::make_generator<ChipGenerator>(resolve_device(device), at::detail::createCPUGenerator());
}

std::mutex g_generator_mutex;
std::array<at::Generator, kMaxDevices> g_default_generators;

// ---------------------------------------------------------------------------------------------
// Device guard: one default stream per device plus any number of user streams; all work is
// synchronous, so streams are always idle and events always complete. An event remembers the
// host time at which it was recorded, which is what elapsed_time measures.
// ---------------------------------------------------------------------------------------------

std::atomic<c10::StreamId> g_next_stream{1};
thread_local std::array<c10::StreamId, kMaxDevices> t_streams{};

struct Event {
  double recorded_ms = 0.0;
};

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

c10::Device resolved(c10::Device device) {
  return c10::Device(kType, resolve_device(device.index()));
}

struct ChipGuard final : public c10::impl::DeviceGuardImplInterface {
  ChipGuard() = default;
  explicit ChipGuard(c10::DeviceType t) {
    TORCH_CHECK(t == kType, "ChipGuard for ", t);
  }
  c10::DeviceType type() const override {
    return kType;
  }
  c10::Device exchangeDevice(c10::Device d) const override {
    const DeviceIndex old = t_current;
    if (d.index() >= 0 && d.index() != old) {
      set_device(d.index());
    }
    return c10::Device(kType, old);
  }
  c10::Device getDevice() const override {
    return c10::Device(kType, t_current);
  }
  void setDevice(c10::Device d) const override {
    set_device(d.index());
  }
  void uncheckedSetDevice(c10::Device d) const noexcept override {
    if (d.index() >= 0 && d.index() < g_count.load()) {
      t_current = d.index();
    }
  }
  c10::Stream getStream(c10::Device d) const override {
    const c10::Device device = resolved(d);
    return c10::Stream(c10::Stream::UNSAFE, device, t_streams[device.index()]);
  }
  c10::Stream getDefaultStream(c10::Device d) const override {
    return c10::Stream(c10::Stream::UNSAFE, resolved(d), 0);
  }
  c10::Stream getStreamFromGlobalPool(c10::Device d, bool /*isHighPriority*/) const override {
    return getNewStream(d, 0);
  }
  c10::Stream getNewStream(c10::Device d, int /*priority*/) const override {
    return c10::Stream(c10::Stream::UNSAFE, resolved(d), g_next_stream++);
  }
  c10::Stream exchangeStream(c10::Stream s) const override {
    const c10::Device device = resolved(s.device());
    const c10::StreamId old = t_streams[device.index()];
    t_streams[device.index()] = s.id();
    return c10::Stream(c10::Stream::UNSAFE, device, old);
  }
  DeviceIndex deviceCount() const noexcept override {
    return g_count.load();
  }
  // Every dtype that can be allocated and copied: the kernels are CPU kernels on the same bytes.
  // Left out: quantized dtypes (their tensors need a QuantizedPrivateUse1 backend) and the 1- to
  // 7-bit placeholder integers, which have no copy kernel even on CPU.
  c10::DeviceCapability getDeviceCapability(c10::Device d) const override {
    resolved(d);
    c10::DeviceCapability capability;
    auto& types = capability.capability_data.supported_scalar_types;
    types.has_QInt8 = types.has_QUInt8 = types.has_QInt32 = 0;
    types.has_QUInt4x2 = types.has_QUInt2x4 = 0;
    types.has_UInt1 = types.has_UInt2 = types.has_UInt3 = types.has_UInt4 = 0;
    types.has_UInt5 = types.has_UInt6 = types.has_UInt7 = 0;
    types.has_Int1 = types.has_Int2 = types.has_Int3 = types.has_Int4 = 0;
    types.has_Int5 = types.has_Int6 = types.has_Int7 = 0;
    return capability;
  }
  void destroyEvent(void* event, const DeviceIndex /*device_index*/) const noexcept override {
    delete static_cast<Event*>(event);
  }
  void record(void** event, const c10::Stream& /*stream*/, const DeviceIndex /*device_index*/,
              const c10::EventFlag /*flag*/) const override {
    if (*event == nullptr) {
      *event = new Event();
    }
    static_cast<Event*>(*event)->recorded_ms = now_ms();
  }
  void block(void* /*event*/, const c10::Stream& /*stream*/) const override {}
  bool queryEvent(void* /*event*/) const override {
    return true;
  }
  bool queryStream(const c10::Stream& /*stream*/) const override {
    return true;
  }
  void synchronizeStream(const c10::Stream& /*stream*/) const override {}
  void synchronizeEvent(void* /*event*/) const override {}
  void synchronizeDevice(const DeviceIndex /*device_index*/) const override {}
  double elapsedTime(void* start, void* end, const DeviceIndex /*device_index*/) const override {
    TORCH_CHECK(start && end, "Both events must be recorded before calculating elapsed time.");
    return static_cast<Event*>(end)->recorded_ms - static_cast<Event*>(start)->recorded_ms;
  }
};

C10_REGISTER_GUARD_IMPL(PrivateUse1, ChipGuard);

// ---------------------------------------------------------------------------------------------
// Hooks: what generic PyTorch code (torch.accelerator, torch.Generator, storage resize) asks of
// the PrivateUse1 backend.
// ---------------------------------------------------------------------------------------------

struct ChipHooks final : public at::PrivateUse1HooksInterface {
  bool isBuilt() const override {
    return true;
  }
  bool isAvailable() const override {
    return g_count.load() > 0;
  }
  bool hasPrimaryContext(DeviceIndex /*device_index*/) const override {
    return true;
  }
  void init() const override {}
  DeviceIndex deviceCount() const override {
    return g_count.load();
  }
  void setCurrentDevice(DeviceIndex device) const override {
    set_device(device);
  }
  DeviceIndex getCurrentDevice() const override {
    return t_current;
  }
  DeviceIndex exchangeDevice(DeviceIndex device) const override {
    const DeviceIndex old = t_current;
    if (device >= 0) {
      set_device(device);
    }
    return old;
  }
  DeviceIndex maybeExchangeDevice(DeviceIndex device) const override {
    if (device < 0 || device >= g_count.load()) {
      return t_current;
    }
    return exchangeDevice(device);
  }
  // Pinned memory is what the host allocator (pinned.cpp) handed out, as OpenReg does; the
  // chip's DMA would need it page-locked, the emulation only needs to know it is ours.
  bool isPinnedPtr(const void* data) const override {
    return is_pinned_ptr(data);
  }
  c10::Allocator* getPinnedMemoryAllocator() const override {
    return at::getHostAllocator(kType);
  }
  c10::Device getDeviceFromPtr(void* /*data*/) const override {
    return c10::Device(kType, t_current);
  }
  const at::Generator& getDefaultGenerator(DeviceIndex device_index) const override {
    return default_generator(device_index);
  }
  at::Generator getNewGenerator(DeviceIndex device_index) const override {
    return new_generator(device_index);
  }
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t newsize) const override {
    c10::StorageImpl* impl = storage.unsafeGetStorageImpl();
    TORCH_CHECK(impl->resizable(), "Trying to resize storage that is not resizable");
    const c10::DeviceGuard guard(impl->device());
    at::DataPtr data = allocator()->allocate(newsize);
    const size_t keep = std::min<size_t>(newsize, impl->nbytes());
    if (keep > 0) {
      std::memcpy(data.get(), impl->data(), keep);
    }
    impl->set_data_ptr_noswap(std::move(data));
    impl->set_nbytes(newsize);
  }
};

[[maybe_unused]] const bool g_hooks_registered = [] {
  at::RegisterPrivateUse1HooksInterface(new ChipHooks());
  return true;
}();

} // namespace

// -------------------------------------------------------------------------------------------------
// Public runtime API (hyperaccel.h)
// -------------------------------------------------------------------------------------------------

void configure(const std::vector<uint64_t>& capacities) {
  TORCH_CHECK(!capacities.empty() && capacities.size() <= static_cast<size_t>(kMaxDevices),
              "hyperaccel: need 1 to ", static_cast<int>(kMaxDevices), " devices, got ",
              capacities.size());
  for (size_t i = 0; i < capacities.size(); ++i) {
    set_capacity(static_cast<DeviceIndex>(i), capacities[i]);
  }
  g_count.store(static_cast<DeviceIndex>(capacities.size()));
}

DeviceIndex resolve_device(DeviceIndex index) {
  if (index < 0) {
    index = t_current;
  }
  check_device_index(index);
  return index;
}

DeviceIndex device_count() noexcept {
  return g_count.load();
}

DeviceIndex current_device() noexcept {
  return t_current;
}

void set_device(DeviceIndex index) {
  check_device_index(index);
  t_current = index;
}

// PyTorch's wording for a bad index (OpenReg's check_device_index), so callers match one message.
void check_device_index(int64_t index) {
  const int count = static_cast<int>(g_count.load());
  TORCH_CHECK(index >= 0 && index < count, "The device index is out of range. It must be in [0, ",
              count, "), but got ", index, ".");
}


const at::Generator& cpu_generator(const at::Generator& hyperaccel_generator) {
  return at::check_generator<ChipGenerator>(hyperaccel_generator)->cpu();
}

const at::Generator& default_generator(DeviceIndex index) {
  const DeviceIndex d = resolve_device(index);
  std::lock_guard<std::mutex> lock(g_generator_mutex);
  at::Generator& generator = g_default_generators[d];
  if (!generator.defined()) {
    generator = new_generator(d);
  }
  return generator;
}

} // namespace hyperaccel