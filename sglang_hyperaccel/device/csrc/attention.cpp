// The chip's paged decode attention: one query token per request against that request's keys and
// values, read where they sit in the paged KV pool (no gathered copy). The SGLang attention backend
// calls it for decode batches (`platform/attention.py`); its dense sibling (dense_attention.cpp)
// serves `scaled_dot_product_attention`, which prefill and extend use.
//
// The pool is host memory, so the kernel reads and writes the tensors' bytes directly. It works the
// same on CPU tensors, which the tests use as the reference device.
#include "kernel_log.h"
#include "dot.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace hyperaccel {
namespace {

template <typename scalar_t, typename index_t>
void decode_kernel(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                   const at::Tensor& kv_index, c10::IntArrayRef seq_lens, int64_t max_kv,
                   double scale, at::Tensor& out) {
  const int64_t batch = q.size(0), q_heads = q.size(1), dim = q.size(2);
  const int64_t kv_heads = k_cache.size(1), v_dim = v_cache.size(2);
  const int64_t group = q_heads / kv_heads;
  const int64_t q_s0 = q.stride(0), q_s1 = q.stride(1);
  const int64_t k_s0 = k_cache.stride(0), k_s1 = k_cache.stride(1);
  const int64_t v_s0 = v_cache.stride(0), v_s1 = v_cache.stride(1);
  const scalar_t* q_ptr = q.const_data_ptr<scalar_t>();
  const scalar_t* k_ptr = k_cache.const_data_ptr<scalar_t>();
  const scalar_t* v_ptr = v_cache.const_data_ptr<scalar_t>();
  const index_t* idx = kv_index.const_data_ptr<index_t>();
  scalar_t* o_ptr = out.data_ptr<scalar_t>();
  const float softmax_scale = static_cast<float>(scale);

  // One (request, KV head) per task: its keys are read once for every query head of its group.
  at::parallel_for(0, batch * kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(group * std::max<int64_t>(max_kv, 1)));
    std::vector<float> acc(static_cast<size_t>(v_dim));
    std::vector<float> query(static_cast<size_t>(dim));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / kv_heads, hk = task % kv_heads;
      const int64_t len = seq_lens[b];
      const index_t* slots = idx + b * max_kv;
      for (int64_t g = 0; g < group; ++g) {
        const int64_t h = hk * group + g;
        const scalar_t* qp = q_ptr + b * q_s0 + h * q_s1;
        for (int64_t d = 0; d < dim; ++d) {
          query[d] = static_cast<float>(qp[d]);
        }
        float* s = scores.data() + g * max_kv;
        float top = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < len; ++j) {
          const scalar_t* kp = k_ptr + static_cast<int64_t>(slots[j]) * k_s0 + hk * k_s1;
          s[j] = dot(query.data(), kp, dim) * softmax_scale;
          top = std::max(top, s[j]);
        }
        float total = 0.f;
        for (int64_t j = 0; j < len; ++j) {
          s[j] = std::exp(s[j] - top);
          total += s[j];
        }
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t j = 0; j < len; ++j) {
          const scalar_t* vp = v_ptr + static_cast<int64_t>(slots[j]) * v_s0 + hk * v_s1;
          const float w = s[j];
          for (int64_t d = 0; d < v_dim; ++d) {
            acc[d] += w * static_cast<float>(vp[d]);
          }
        }
        scalar_t* op = o_ptr + (b * q_heads + h) * v_dim;
        const float inv = len > 0 ? 1.f / total : 0.f;
        for (int64_t d = 0; d < v_dim; ++d) {
          op[d] = static_cast<scalar_t>(acc[d] * inv);
        }
      }
    }
  });
}

// q [batch, q_heads, dim]; k_cache [slots, kv_heads, dim]; v_cache [slots, kv_heads, v_dim];
// kv_index [batch * max_kv], the KV slot of key j of request b at b * max_kv + j (int32 or int64);
// seq_lens[b] keys per request (<= max_kv). Returns [batch, q_heads, v_dim] in q's dtype:
// softmax(q k^T * scale) v per request and head, GQA by q_heads / kv_heads.
at::Tensor paged_decode_attention(const at::Tensor& q, const at::Tensor& k_cache,
                                  const at::Tensor& v_cache, const at::Tensor& kv_index,
                                  c10::IntArrayRef seq_lens, int64_t max_kv, double scale) {
  const KernelSpan span("hyperaccel::paged_decode_attention");
  TORCH_CHECK(q.dim() == 3 && k_cache.dim() == 3 && v_cache.dim() == 3,
              "paged_decode_attention: q, k_cache and v_cache must be 3-D");
  TORCH_CHECK(q.stride(2) == 1 && k_cache.stride(2) == 1 && v_cache.stride(2) == 1,
              "paged_decode_attention: the last dimension must be contiguous");
  TORCH_CHECK(k_cache.scalar_type() == q.scalar_type() && v_cache.scalar_type() == q.scalar_type(),
              "paged_decode_attention: q, k_cache and v_cache must share a dtype");
  TORCH_CHECK(q.size(2) == k_cache.size(2), "paged_decode_attention: q and k head dims differ");
  TORCH_CHECK(k_cache.size(1) > 0 && q.size(1) % k_cache.size(1) == 0,
              "paged_decode_attention: q heads must be a multiple of kv heads");
  TORCH_CHECK(static_cast<int64_t>(seq_lens.size()) == q.size(0),
              "paged_decode_attention: one sequence length per request");
  TORCH_CHECK(kv_index.is_contiguous() && kv_index.numel() >= q.size(0) * max_kv,
              "paged_decode_attention: kv_index must hold batch * max_kv slots");
  for (int64_t len : seq_lens) {
    TORCH_CHECK(len >= 0 && len <= max_kv, "paged_decode_attention: sequence length ", len,
                " outside [0, ", max_kv, "]");
  }
  at::Tensor out = at::empty({q.size(0), q.size(1), v_cache.size(2)}, q.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, q.scalar_type(), "paged_decode_attention", [&] {
    if (kv_index.scalar_type() == at::kInt) {
      decode_kernel<scalar_t, int32_t>(q, k_cache, v_cache, kv_index, seq_lens, max_kv, scale, out);
    } else {
      TORCH_CHECK(kv_index.scalar_type() == at::kLong, "paged_decode_attention: kv_index must be int32 or int64");
      decode_kernel<scalar_t, int64_t>(q, k_cache, v_cache, kv_index, seq_lens, max_kv, scale, out);
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(hyperaccel, m) {
  m.def("paged_decode_attention(Tensor q, Tensor k_cache, Tensor v_cache, Tensor kv_index, "
        "int[] seq_lens, int max_kv, float scale) -> Tensor");
}

TORCH_LIBRARY_IMPL(hyperaccel, PrivateUse1, m) {
  m.impl("paged_decode_attention", &paged_decode_attention);
}

TORCH_LIBRARY_IMPL(hyperaccel, CPU, m) {
  m.impl("paged_decode_attention", &paged_decode_attention);
}

}  // namespace hyperaccel
