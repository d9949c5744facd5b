// Pinned host memory, as PyTorch's host-allocator hooks expect of an accelerator (OpenReg's
// OpenRegHostAllocator): `Tensor.pin_memory()` allocates here and `Tensor.is_pinned()` asks
// `is_pinned_ptr`. A real chip would page-lock these blocks for its DMA engine; the emulated chip
// reads host memory directly, so a block is plain aligned host memory remembered in a table.
// Nothing is cached: a freed block goes straight back to the host.
#include "hyperaccel.h"

#include <ATen/core/CachingHostAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <cstring>
#include <mutex>
#include <unordered_set>

namespace hyperaccel {
namespace {

std::mutex g_mutex;
std::unordered_set<const void*> g_blocks;

void free_pinned(void* data) {
  if (data == nullptr) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_blocks.erase(data);
  }
  c10::free_cpu(data);
}

class PinnedAllocator final : public at::HostAllocator {
 public:
  at::DataPtr allocate(size_t nbytes) override {
    if (nbytes == 0) {
      return {nullptr, nullptr, &free_pinned, c10::Device(c10::DeviceType::CPU)};
    }
    void* data = c10::alloc_cpu(nbytes);
    std::lock_guard<std::mutex> lock(g_mutex);
    g_blocks.insert(data);
    return {data, data, &free_pinned, c10::Device(c10::DeviceType::CPU)};
  }
  at::DeleterFnPtr raw_deleter() const override {
    return &free_pinned;
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
  // Work is synchronous: a block is never in use by a pending copy.
  bool record_event(void* /*ptr*/, void* /*ctx*/, c10::Stream /*stream*/) override {
    return true;
  }
  void empty_cache() override {}
  at::HostStats get_stats() override {
    return {};  // no caching: nothing to count
  }
  void reset_accumulated_stats() override {}
  void reset_peak_stats() override {}
};

PinnedAllocator g_pinned;
REGISTER_HOST_ALLOCATOR(at::kPrivateUse1, &g_pinned)

} // namespace

bool is_pinned_ptr(const void* data) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_blocks.count(data) > 0;
}

} // namespace hyperaccel
