// The aliasing behind every hyperaccel kernel that runs a CPU kernel (see aliasing.h): CPU
// tensors over device storages, and the mapping of a CPU kernel's writes and results back onto
// device tensors.
#include "aliasing.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/TensorImpl.h>

#include <utility>

namespace hyperaccel {
namespace {

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

} // namespace

at::Tensor Call::to_cpu(const at::Tensor& t, bool written) {
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

void Call::sync_written() {
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

at::Tensor Call::to_device(const at::Tensor& t) {
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

c10::Storage Call::chip_storage(const at::Tensor& t) {
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

} // namespace hyperaccel
