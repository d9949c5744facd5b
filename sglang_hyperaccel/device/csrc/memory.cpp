// The chip's memory: host RAM handed out by a counting allocator, per-device statistics, the
// capacity check that raises torch.OutOfMemoryError, and adoption of CPU kernel results.
#include "hyperaccel.h"

#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>

namespace hyperaccel {
namespace {

using c10::DeviceIndex;
using c10::CachingDeviceAllocator::DeviceStats;

constexpr c10::DeviceType kType = c10::DeviceType::PrivateUse1;
constexpr size_t kAll = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
constexpr uint64_t kUnbounded = std::numeric_limits<uint64_t>::max();

// ---------------------------------------------------------------------------------------------
// Memory accounting
// ---------------------------------------------------------------------------------------------

struct Chip {
  std::mutex mutex;
  uint64_t capacity = kUnbounded;
  DeviceStats stats;
};
std::array<Chip, kMaxDevices> g_chips;

std::string format_bytes(uint64_t n) {
  if (n == kUnbounded) {
    return "unbounded";
  }
  if (n < 1024) {
    return std::to_string(n) + " B";
  }
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(n) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 3) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f %s", value, units[unit]);
  return text;
}

// Counts `n` bytes against chip `d`, or raises torch.OutOfMemoryError naming the figures.
void charge(DeviceIndex d, size_t n) {
  Chip& chip = g_chips[d];
  std::lock_guard<std::mutex> lock(chip.mutex);
  const auto used = static_cast<uint64_t>(chip.stats.allocated_bytes[kAll].current);
  if (n > chip.capacity - used) {
    chip.stats.num_ooms++;
    TORCH_CHECK_WITH(
        OutOfMemoryError, false,
        c10::Device(kType, d).str(), " out of memory: tried to allocate ", format_bytes(n), "; ",
        format_bytes(chip.capacity - used), " free of ", format_bytes(chip.capacity),
        " total (", format_bytes(used), " allocated)");
  }
  auto& s = chip.stats;
  s.allocation[kAll].increase(1);
  s.segment[kAll].increase(1);
  s.active[kAll].increase(1);
  s.allocated_bytes[kAll].increase(n);
  s.reserved_bytes[kAll].increase(n);
  s.active_bytes[kAll].increase(n);
  s.requested_bytes[kAll].increase(n);
  s.num_device_alloc++;
}

void release(DeviceIndex d, size_t n) noexcept {
  Chip& chip = g_chips[d];
  std::lock_guard<std::mutex> lock(chip.mutex);
  auto& s = chip.stats;
  s.allocation[kAll].decrease(1);
  s.segment[kAll].decrease(1);
  s.active[kAll].decrease(1);
  s.allocated_bytes[kAll].decrease(n);
  s.reserved_bytes[kAll].decrease(n);
  s.active_bytes[kAll].decrease(n);
  s.requested_bytes[kAll].decrease(n);
  s.num_device_free++;
}

// ---------------------------------------------------------------------------------------------
// Allocator: each block carries a 64-byte header (size, device) in front of the data, so the
// DataPtr's context is the data pointer itself (raw_allocate works) and freeing needs no table.
// The header is not counted: memory_allocated() moves by exactly the requested bytes.
// ---------------------------------------------------------------------------------------------

constexpr size_t kHeader = 64;
struct Header {
  uint64_t nbytes;
  DeviceIndex device;
};

void free_block(void* data) {
  if (data == nullptr) {
    return;
  }
  char* base = static_cast<char*>(data) - kHeader;
  const Header* header = reinterpret_cast<const Header*>(base);
  release(header->device, header->nbytes);
  c10::free_cpu(base);
}

class ChipAllocator final : public c10::DeviceAllocator {
 public:
  at::DataPtr allocate(size_t nbytes) override {
    const DeviceIndex d = resolve_device(-1);
    const c10::Device device(kType, d);
    if (nbytes == 0) {
      return {nullptr, nullptr, &free_block, device};
    }
    charge(d, nbytes);
    char* base = nullptr;
    try {
      base = static_cast<char*>(c10::alloc_cpu(nbytes + kHeader));
    } catch (...) {
      release(d, nbytes);
      throw;
    }
    new (base) Header{nbytes, d};
    void* data = base + kHeader;
    return {data, data, &free_block, device};
  }

  at::DeleterFnPtr raw_deleter() const override {
    return &free_block;
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }

  bool initialized() override {
    return true;
  }

  // Nothing is cached: freed blocks go straight back to the host.
  void emptyCache(c10::MempoolId_t /*mempool_id*/) override {}

  // Execution is synchronous, so a block is never in use by a pending kernel.
  void recordStream(const at::DataPtr& /*ptr*/, c10::Stream /*stream*/) override {}

  DeviceStats getDeviceStats(DeviceIndex device) override {
    Chip& chip = g_chips[resolve_device(device)];
    std::lock_guard<std::mutex> lock(chip.mutex);
    return chip.stats;
  }

  void resetAccumulatedStats(DeviceIndex device) override {
    Chip& chip = g_chips[resolve_device(device)];
    std::lock_guard<std::mutex> lock(chip.mutex);
    auto& s = chip.stats;
    for (auto* stat : {&s.allocation, &s.segment, &s.active, &s.allocated_bytes,
                       &s.reserved_bytes, &s.active_bytes, &s.requested_bytes}) {
      (*stat)[kAll].reset_accumulated();
    }
    s.num_ooms = 0;
    s.num_device_alloc = 0;
    s.num_device_free = 0;
  }

  void resetPeakStats(DeviceIndex device) override {
    Chip& chip = g_chips[resolve_device(device)];
    std::lock_guard<std::mutex> lock(chip.mutex);
    auto& s = chip.stats;
    for (auto* stat : {&s.allocation, &s.segment, &s.active, &s.allocated_bytes,
                       &s.reserved_bytes, &s.active_bytes, &s.requested_bytes}) {
      (*stat)[kAll].reset_peak();
    }
  }

  std::pair<size_t, size_t> getMemoryInfo(DeviceIndex device) override {
    Chip& chip = g_chips[resolve_device(device)];
    std::lock_guard<std::mutex> lock(chip.mutex);
    const auto used = static_cast<uint64_t>(chip.stats.allocated_bytes[kAll].current);
    return {chip.capacity - used, chip.capacity};
  }
};

ChipAllocator g_allocator;
REGISTER_ALLOCATOR(kType, &g_allocator);

struct Adopted {
  c10::intrusive_ptr<c10::StorageImpl> cpu;
  DeviceIndex device;
  size_t nbytes;
};

void free_adopted(void* context) {
  auto* adopted = static_cast<Adopted*>(context);
  release(adopted->device, adopted->nbytes);
  delete adopted;
}

} // namespace

void set_capacity(DeviceIndex index, uint64_t bytes) {
  TORCH_CHECK(index >= 0 && index < kMaxDevices, "hyperaccel: bad device index ", static_cast<int>(index));
  TORCH_CHECK(bytes > 0, "hyperaccel:", static_cast<int>(index), " needs a positive memory capacity");
  Chip& chip = g_chips[index];
  std::lock_guard<std::mutex> lock(chip.mutex);
  chip.capacity = bytes;
}

uint64_t capacity(DeviceIndex index) {
  Chip& chip = g_chips[resolve_device(index)];
  std::lock_guard<std::mutex> lock(chip.mutex);
  return chip.capacity;
}

c10::Allocator* allocator() {
  return &g_allocator;
}

c10::DataPtr adopt(c10::intrusive_ptr<c10::StorageImpl> cpu, DeviceIndex device) {
  const size_t nbytes = cpu->nbytes();
  void* data = cpu->mutable_data();
  charge(device, nbytes);
  auto* context = new Adopted{std::move(cpu), device, nbytes};
  return c10::DataPtr(data, context, &free_adopted, c10::Device(kType, device));
}

c10::Storage adopt_storage(c10::intrusive_ptr<c10::StorageImpl> cpu, DeviceIndex device) {
  const size_t nbytes = cpu->nbytes();
  return c10::Storage(c10::make_intrusive<c10::StorageImpl>(
      c10::StorageImpl::use_byte_size_t(), nbytes, adopt(std::move(cpu), device), &g_allocator,
      /*resizable=*/true));
}

} // namespace hyperaccel
