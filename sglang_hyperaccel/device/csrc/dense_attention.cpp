// The chip's dense attention, sibling of the paged decode kernel (attention.cpp): PyTorch's
// `scaled_dot_product_attention` on the device, through the OVERRIDEABLE SDPA backend (sdpa.cpp,
// forward only). SGLang's prefill and extend batches reach it through SDPA.
//
// Two kernels with one contract: a per-row loop for small problems (no setup cost, what a handful
// of prompt tokens needs) and query tiles through batched GEMMs for the rest (the per-row loop is
// 6 to 10 times slower than PyTorch's CPU flash kernel on long prompts; the tiles are not).
// FP32 scores, softmax and accumulation in both; they work the same on CPU tensors, which the
// tests use as the reference device.
#include "kernel_log.h"
#include "aliasing.h"
#include "dot.h"
#include "ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <type_traits>
#include <vector>

namespace hyperaccel {
namespace {

// Above this many scores per (batch, head) the tiled kernel wins: the row kernel has no per-call
// setup, the tiled one about 15 ATen ops per tile (crossover measured between 64 and 128 tokens).
constexpr int64_t kRowKernelMaxScores = 4096;
// 64 query rows per tile measured fastest on this host (16 to 256 tried, 4 to 32 heads, 128 to
// 2048 tokens: larger tiles spill the scores out of cache, smaller ones pay the per-tile ops),
// and never more than 64 MiB of scores at once.
constexpr int64_t kTileRows = 64;
constexpr int64_t kTileScores = int64_t{1} << 24;

// The row kernel, for small problems: one task per (batch, query head, query row), over
// [batch, heads, len, dim] views (any strides but a contiguous last dim): scores in FP32, a stable softmax, FP32
// accumulation. `mask` is null or [batch, q_heads, L, S] (expanded, so strides may be 0), bool
// (true keeps) or float (added). Causal masking is top-left aligned, as PyTorch's `is_causal`.
// A row with every key masked out gives zeros and a logsumexp of -inf.
template <typename scalar_t, typename mask_t>
void row_kernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const mask_t* mask,
                  c10::IntArrayRef mask_strides, bool causal, float scale, at::Tensor& out,
                  at::Tensor& lse) {
  const int64_t batch = q.size(0), q_heads = q.size(1), len_q = q.size(2), dim = q.size(3);
  const int64_t kv_heads = k.size(1), len_k = k.size(2), v_dim = v.size(3);
  const int64_t group = q_heads / kv_heads;
  const int64_t q_s0 = q.stride(0), q_s1 = q.stride(1), q_s2 = q.stride(2);
  const int64_t k_s0 = k.stride(0), k_s1 = k.stride(1), k_s2 = k.stride(2);
  const int64_t v_s0 = v.stride(0), v_s1 = v.stride(1), v_s2 = v.stride(2);
  const scalar_t* q_ptr = q.const_data_ptr<scalar_t>();
  const scalar_t* k_ptr = k.const_data_ptr<scalar_t>();
  const scalar_t* v_ptr = v.const_data_ptr<scalar_t>();
  const int64_t o_s0 = out.stride(0), o_s1 = out.stride(1), o_s2 = out.stride(2), o_s3 = out.stride(3);
  scalar_t* o_ptr = out.data_ptr<scalar_t>();
  float* lse_ptr = lse.data_ptr<float>();
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  at::parallel_for(0, batch * q_heads * len_q, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(std::max<int64_t>(len_k, 1)));
    std::vector<float> acc(static_cast<size_t>(v_dim));
    std::vector<float> query(static_cast<size_t>(dim));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t i = row % len_q, h = (row / len_q) % q_heads, b = row / (len_q * q_heads);
      const int64_t hk = h / group;
      const scalar_t* qp = q_ptr + b * q_s0 + h * q_s1 + i * q_s2;
      for (int64_t d = 0; d < dim; ++d) {
        query[d] = static_cast<float>(qp[d]);
      }
      const mask_t* mp = mask == nullptr ? nullptr
          : mask + b * mask_strides[0] + h * mask_strides[1] + i * mask_strides[2];
      // Causal rows see keys 0..i only; the keys after them are never read.
      const int64_t visible = causal ? std::min(len_k, i + 1) : len_k;
      float top = kNegInf;
      for (int64_t j = 0; j < visible; ++j) {
        const scalar_t* kp = k_ptr + b * k_s0 + hk * k_s1 + j * k_s2;
        float s = dot(query.data(), kp, dim) * scale;
        if (mp != nullptr) {
          const mask_t m = mp[j * mask_strides[3]];
          if constexpr (std::is_same_v<mask_t, bool>) {
            s = m ? s : kNegInf;
          } else {
            s += static_cast<float>(m);
          }
        }
        scores[j] = s;
        top = std::max(top, s);
      }
      std::fill(acc.begin(), acc.end(), 0.f);
      float total = 0.f;
      if (top != kNegInf) {
        for (int64_t j = 0; j < visible; ++j) {
          const float w = std::exp(scores[j] - top);
          total += w;
          if (w == 0.f) {
            continue;
          }
          const scalar_t* vp = v_ptr + b * v_s0 + hk * v_s1 + j * v_s2;
          for (int64_t d = 0; d < v_dim; ++d) {
            acc[d] += w * static_cast<float>(vp[d]);
          }
        }
      }
      scalar_t* op = o_ptr + b * o_s0 + h * o_s1 + i * o_s2;
      const float inv = total > 0.f ? 1.f / total : 0.f;
      for (int64_t d = 0; d < v_dim; ++d) {
        op[d * o_s3] = static_cast<scalar_t>(acc[d] * inv);
      }
      lse_ptr[row] = total > 0.f ? top + std::log(total) : kNegInf;
    }
  });
}

// The tiled kernel, for everything else: query rows in tiles, each tile's scores for every head
// in one batched GEMM (BLAS, FP32), the softmax and the GEMM with the values likewise; causal
// tiles read only the keys their rows can see. Same contract as the row kernel.
void tiled_kernel(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                  const at::Tensor& attn_mask, bool causal, float scale, at::Tensor& out_t,
                  at::Tensor& lse_t) {
  // Device memory is host memory: run ATen's CPU kernels on zero-copy CPU aliases.
  Call call(/*same_device=*/true);
  auto host = [&](const at::Tensor& t, bool written) {
    return on_chip(t) ? call.to_cpu(t, written) : t;
  };
  const at::Tensor q = host(query, false), k = host(key, false), v = host(value, false);
  const at::Tensor mask = attn_mask.defined() ? host(attn_mask, false) : attn_mask;
  at::Tensor out = host(out_t, true), lse = host(lse_t, true);

  const int64_t batch = q.size(0), heads = q.size(1), len_q = q.size(2), dim = q.size(3);
  const int64_t kv_heads = k.size(1), len_k = k.size(2), v_dim = v.size(3);
  const int64_t group = heads / kv_heads;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  // Heads of one GQA group are consecutive (head h reads key head h / group), so a tile's
  // queries [B, Hk * group, T, D] reshape to [B * Hk, group * T, D] against keys [B * Hk, S, D].
  const at::Tensor keys = k.to(at::kFloat).reshape({batch * kv_heads, len_k, dim});
  const at::Tensor values = v.to(at::kFloat).reshape({batch * kv_heads, len_k, v_dim});
  const int64_t tile = std::clamp<int64_t>(
      std::min(kTileRows, kTileScores / std::max<int64_t>(batch * heads * len_k, 1)), 1, len_q);
  const at::TensorOptions index = at::TensorOptions().dtype(at::kLong);
  for (int64_t start = 0; start < len_q; start += tile) {
    const int64_t rows = std::min(tile, len_q - start);
    // Causal rows see keys 0..row only: keys after the tile's last row are never read.
    const int64_t visible = causal ? std::min(len_k, start + rows) : len_k;
    if (visible == 0) {
      out.narrow(2, start, rows).zero_();
      lse.narrow(2, start, rows).fill_(kNegInf);
      continue;
    }
    const at::Tensor tile_q = q.narrow(2, start, rows).to(at::kFloat)
        .reshape({batch * kv_heads, group * rows, dim});
    at::Tensor scores = at::bmm(tile_q, keys.narrow(1, 0, visible).transpose(1, 2))
        .view({batch, heads, rows, visible});
    scores.mul_(scale);
    if (causal) {
      scores.masked_fill_(at::arange(visible, index).unsqueeze(0) >
                              at::arange(start, start + rows, index).unsqueeze(1),
                          kNegInf);
    }
    if (mask.defined()) {
      const at::Tensor tile_mask = mask.narrow(2, start, rows).narrow(3, 0, visible);
      if (tile_mask.scalar_type() == at::kBool) {
        scores.masked_fill_(tile_mask.logical_not(), kNegInf);
      } else {
        scores.add_(tile_mask);
      }
    }
    // A row with every key masked out has top -inf: it gives zeros and a logsumexp of -inf.
    const at::Tensor top = std::get<0>(scores.max(-1, /*keepdim=*/true));
    scores.sub_(top.masked_fill(top.isneginf(), 0.f)).exp_();
    const at::Tensor total = scores.sum(-1, /*keepdim=*/true);
    at::Tensor tile_out = at::bmm(scores.view({batch * kv_heads, group * rows, visible}),
                                  values.narrow(1, 0, visible))
        .view({batch, heads, rows, v_dim});
    tile_out.div_(total.clamp_min(std::numeric_limits<float>::min()));
    out.narrow(2, start, rows).copy_(tile_out);
    lse.narrow(2, start, rows).copy_((top + total.log()).squeeze(-1));
  }
}

// The output in the query's memory layout, as PyTorch's meta function for the OVERRIDEABLE op
// allocates it (`alloc_with_matching_layout`): compiled graphs assert these strides.
at::Tensor like_query(const at::Tensor& query, c10::IntArrayRef shape) {
  if (query.sizes() == shape) {
    return at::empty_like(query);
  }
  std::vector<int64_t> order = {0, 1, 2, 3};
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return query.stride(a) > query.stride(b); });
  std::vector<int64_t> strides(4);
  int64_t stride = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    strides[*it] = stride;
    stride *= shape[*it];
  }
  return at::empty_strided(shape, strides, query.options());
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> dense_attention(const at::Tensor& query, const at::Tensor& key,
                                                   const at::Tensor& value,
                                                   const std::optional<at::Tensor>& attn_mask,
                                                   bool is_causal, std::optional<double> scale) {
  const KernelSpan span("hyperaccel::dense_attention");
  TORCH_CHECK(query.dim() == 4 && key.dim() == 4 && value.dim() == 4,
              "hyperaccel attention: query, key and value must be 4-D [batch, heads, len, dim]");
  TORCH_CHECK(key.scalar_type() == query.scalar_type() && value.scalar_type() == query.scalar_type(),
              "hyperaccel attention: query, key and value must share a dtype");
  TORCH_CHECK(query.size(0) == key.size(0) && key.size(0) == value.size(0) && key.size(2) == value.size(2)
                  && key.size(1) == value.size(1) && query.size(3) == key.size(3),
              "hyperaccel attention: mismatched query, key and value shapes");
  TORCH_CHECK(key.size(1) > 0 && query.size(1) % key.size(1) == 0,
              "hyperaccel attention: query heads must be a multiple of key/value heads");
  const at::Tensor q = query.stride(3) == 1 ? query : query.contiguous();
  const at::Tensor k = key.stride(3) == 1 ? key : key.contiguous();
  const at::Tensor v = value.stride(3) == 1 ? value : value.contiguous();
  const int64_t batch = q.size(0), heads = q.size(1), len_q = q.size(2), len_k = k.size(2);
  at::Tensor out = like_query(query, {batch, heads, len_q, v.size(3)});
  at::Tensor lse = at::empty({batch, heads, len_q}, q.options().dtype(at::kFloat));
  const float softmax_scale = static_cast<float>(
      scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(3))));
  at::Tensor mask;
  if (attn_mask.has_value() && attn_mask->defined()) {
    mask = attn_mask->scalar_type() == at::kBool ? *attn_mask : attn_mask->to(at::kFloat);
    mask = mask.expand({batch, heads, len_q, len_k});
  }
  if (len_q * len_k > kRowKernelMaxScores) {
    tiled_kernel(q, k, v, mask, is_causal, softmax_scale, out, lse);
    return {out, lse};
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, q.scalar_type(), "dense_attention", [&] {
    if (!mask.defined()) {
      row_kernel<scalar_t, float>(q, k, v, nullptr, {}, is_causal, softmax_scale, out, lse);
    } else if (mask.scalar_type() == at::kBool) {
      row_kernel<scalar_t, bool>(q, k, v, mask.const_data_ptr<bool>(), mask.strides(), is_causal,
                                   softmax_scale, out, lse);
    } else {
      row_kernel<scalar_t, float>(q, k, v, mask.const_data_ptr<float>(), mask.strides(), is_causal,
                                    softmax_scale, out, lse);
    }
  });
  return {out, lse};
}

}  // namespace hyperaccel
