// The fused RNN cells PyTorch's LSTM and GRU pick for every non-CPU device (RNN.cpp: CUDA, XPU and
// PrivateUse1 inputs take `_thnn_fused_*_cell`), which exist only as CUDA kernels, so the CPU
// fallback cannot serve them. Here they are decomposed into device ops, with the same gate layout
// and workspace as the CUDA kernels so that their backward formulas (derivatives.yaml) apply.
#include "ops.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <tuple>

namespace hyperaccel {
namespace {

at::Tensor add_bias(at::Tensor gates, const std::optional<at::Tensor>& bias) {
  return bias.has_value() && bias->defined() ? gates + *bias : gates;
}

at::Tensor or_zeros(const std::optional<at::Tensor>& grad, const at::Tensor& like) {
  return grad.has_value() && grad->defined() ? *grad : at::zeros_like(like);
}

// Gates [batch, 4H] in the order i, f, g, o; the workspace keeps the activated gates.
std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_lstm_cell(
    const at::Tensor& input_gates, const at::Tensor& hidden_gates, const at::Tensor& cx,
    const std::optional<at::Tensor>& input_bias, const std::optional<at::Tensor>& hidden_bias) {
  const at::Tensor gates = add_bias(add_bias(input_gates + hidden_gates, input_bias), hidden_bias);
  const auto chunks = gates.chunk(4, 1);
  const at::Tensor i = chunks[0].sigmoid(), f = chunks[1].sigmoid();
  const at::Tensor g = chunks[2].tanh(), o = chunks[3].sigmoid();
  const at::Tensor cy = f * cx + i * g;
  const at::Tensor hy = o * cy.tanh();
  return {hy, cy, at::cat({i, f, g, o}, 1)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_lstm_cell_backward(
    const std::optional<at::Tensor>& grad_hy, const std::optional<at::Tensor>& grad_cy,
    const at::Tensor& cx, const at::Tensor& cy, const at::Tensor& workspace, bool has_bias) {
  const auto chunks = workspace.chunk(4, 1);
  const at::Tensor &i = chunks[0], &f = chunks[1], &g = chunks[2], &o = chunks[3];
  const at::Tensor tanh_cy = cy.tanh();
  const at::Tensor ghy = or_zeros(grad_hy, cy);
  const at::Tensor gcy = or_zeros(grad_cy, cy) + ghy * o * (1 - tanh_cy * tanh_cy);
  const at::Tensor grad_gates = at::cat(
      {gcy * g * i * (1 - i), gcy * cx * f * (1 - f), gcy * i * (1 - g * g), ghy * tanh_cy * o * (1 - o)}, 1);
  at::Tensor grad_bias = has_bias ? grad_gates.sum(0) : at::Tensor();
  return {grad_gates, gcy * f, grad_bias};
}

// Gates [batch, 3H] in the order r, z, n; the workspace is r, z, n, hx and the hidden part of n.
std::tuple<at::Tensor, at::Tensor> fused_gru_cell(
    const at::Tensor& input_gates, const at::Tensor& hidden_gates, const at::Tensor& hx,
    const std::optional<at::Tensor>& input_bias, const std::optional<at::Tensor>& hidden_bias) {
  const auto in = add_bias(input_gates, input_bias).chunk(3, 1);
  const auto hid = add_bias(hidden_gates, hidden_bias).chunk(3, 1);
  const at::Tensor r = (in[0] + hid[0]).sigmoid(), z = (in[1] + hid[1]).sigmoid();
  const at::Tensor n = (in[2] + r * hid[2]).tanh();
  const at::Tensor hy = n + z * (hx - n);
  return {hy, at::cat({r, z, n, hx, hid[2]}, 1)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> fused_gru_cell_backward(
    const at::Tensor& grad_hy, const at::Tensor& workspace, bool has_bias) {
  const auto w = workspace.chunk(5, 1);
  const at::Tensor &r = w[0], &z = w[1], &n = w[2], &hx = w[3], &hn = w[4];
  const at::Tensor gz = grad_hy * (hx - n) * z * (1 - z);
  const at::Tensor gn = grad_hy * (1 - z) * (1 - n * n);
  const at::Tensor gr = gn * hn * r * (1 - r);
  const at::Tensor grad_input = at::cat({gr, gz, gn}, 1);
  const at::Tensor grad_hidden = at::cat({gr, gz, gn * r}, 1);
  at::Tensor grad_input_bias = has_bias ? grad_input.sum(0) : at::Tensor();
  at::Tensor grad_hidden_bias = has_bias ? grad_hidden.sum(0) : at::Tensor();
  return {grad_input, grad_hidden, grad_hy * z, grad_input_bias, grad_hidden_bias};
}

} // namespace

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("_thnn_fused_lstm_cell", TORCH_FN(fused_lstm_cell));
  m.impl("_thnn_fused_lstm_cell_backward_impl", TORCH_FN(fused_lstm_cell_backward));
  m.impl("_thnn_fused_gru_cell", TORCH_FN(fused_gru_cell));
  m.impl("_thnn_fused_gru_cell_backward", TORCH_FN(fused_gru_cell_backward));
}

} // namespace hyperaccel
