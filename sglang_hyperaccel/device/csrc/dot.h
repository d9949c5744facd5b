// The FP32 dot product the chip's attention kernels share (attention.cpp, dense_attention.cpp).
#pragma once

#include <cstdint>

namespace hyperaccel {

// Eight independent partial sums: strict FP forbids the compiler from reassociating one running
// sum, which would leave the loop a chain of dependent adds; these vectorize and pipeline.
template <typename scalar_t>
inline float dot(const float* a, const scalar_t* b, int64_t n) {
  float part[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) {
    for (int i = 0; i < 8; ++i) {
      part[i] += a[d + i] * static_cast<float>(b[d + i]);
    }
  }
  float total = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; d < n; ++d) {
    total += a[d] * static_cast<float>(b[d]);
  }
  return total;
}

}  // namespace hyperaccel
