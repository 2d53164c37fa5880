// oneDNN's convolutions at given layer shapes: forward, input gradient and weight gradient.
//
// Built and run by benchmarks/conv_onednn.py (which also times XLA's convolutions at the same shapes
// in the same run). Input on stdin, one layer per line: "N H W C_in C_out K" (stride 1, SAME
// padding, float32). Output on stdout, one JSON line per layer and layout:
//   "nhwc": the tensors in NHWC / HWIO, what an XLA custom call would hand over;
//   "blocked": oneDNN's preferred layouts (format_tag::any), with the reorders an NHWC caller would
//              need (inputs in, outputs out) timed as part of each primitive.
// Times are the best of `rounds` means of `reps` calls, in milliseconds.

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double BestMs(const std::function<void()>& fn, int rounds, int reps) {
  for (int i = 0; i < 3; ++i) fn();
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    double start = Now();
    for (int i = 0; i < reps; ++i) fn();
    best = std::min(best, (Now() - start) / reps);
  }
  return best * 1e3;
}

// A memory in `want` layout fed from / drained to an NHWC-layout memory when the layouts differ
// (the reorder primitives are made once here, not in the timed calls); otherwise one buffer.
struct Staged {
  memory user, inner;
  dnnl::reorder to_inner, to_user;
  bool reorder = false;
  Staged(const memory::desc& user_md, const memory::desc& want, const dnnl::engine& eng)
      : user(user_md, eng), inner(user) {
    FillRandom(user);
    if (want != user_md) {
      inner = memory(want, eng);
      to_inner = dnnl::reorder(user, inner);
      to_user = dnnl::reorder(inner, user);
      reorder = true;
    }
  }
  static void FillRandom(memory& m) {
    float* p = static_cast<float*>(m.get_data_handle());
    size_t n = m.get_desc().get_size() / sizeof(float);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(std::rand()) / RAND_MAX - 0.5f;
  }
  void In(dnnl::stream& s) {
    if (reorder) to_inner.execute(s, user, inner);
  }
  void Out(dnnl::stream& s) {
    if (reorder) to_user.execute(s, inner, user);
  }
};

void Layer(int n, int h, int w, int ci, int co, int k, bool blocked, int rounds, int reps) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  memory::dims src_d = {n, ci, h, w}, wei_d = {co, ci, k, k}, dst_d = {n, co, h, w};
  memory::dims strides = {1, 1}, pad_l = {(k - 1) / 2, (k - 1) / 2}, pad_r = {k / 2, k / 2};
  memory::desc src_user(src_d, dt::f32, tag::nhwc), dst_user(dst_d, dt::f32, tag::nhwc),
      wei_user(wei_d, dt::f32, tag::hwio);
  memory::desc src_md = blocked ? memory::desc(src_d, dt::f32, tag::any) : src_user;
  memory::desc dst_md = blocked ? memory::desc(dst_d, dt::f32, tag::any) : dst_user;
  memory::desc wei_md = blocked ? memory::desc(wei_d, dt::f32, tag::any) : wei_user;
  auto fwd_pd = dnnl::convolution_forward::primitive_desc(
      eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src_md, wei_md,
      dst_md, strides, pad_l, pad_r);
  auto bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
      eng, dnnl::algorithm::convolution_direct, src_md, wei_md, dst_md, strides, pad_l, pad_r, fwd_pd);
  auto bwd_wei_pd = dnnl::convolution_backward_weights::primitive_desc(
      eng, dnnl::algorithm::convolution_direct, src_md, wei_md, dst_md, strides, pad_l, pad_r, fwd_pd);
  Staged src(src_user, fwd_pd.src_desc(), eng), wei(wei_user, fwd_pd.weights_desc(), eng),
      dst(dst_user, fwd_pd.dst_desc(), eng), diff_dst(dst_user, bwd_wei_pd.diff_dst_desc(), eng),
      diff_src(src_user, bwd_data_pd.diff_src_desc(), eng),
      diff_wei(wei_user, bwd_wei_pd.diff_weights_desc(), eng),
      wei_b(wei_user, bwd_data_pd.weights_desc(), eng), diff_dst_b(dst_user, bwd_data_pd.diff_dst_desc(), eng);
  wei.In(s);
  wei_b.In(s);
  dnnl::convolution_forward fwd(fwd_pd);
  dnnl::convolution_backward_data bwd_data(bwd_data_pd);
  dnnl::convolution_backward_weights bwd_wei(bwd_wei_pd);
  double t_fwd = BestMs([&] {
    src.In(s);
    fwd.execute(s, {{DNNL_ARG_SRC, src.inner}, {DNNL_ARG_WEIGHTS, wei.inner}, {DNNL_ARG_DST, dst.inner}});
    dst.Out(s);
    s.wait();
  }, rounds, reps);
  double t_data = BestMs([&] {
    diff_dst_b.In(s);
    bwd_data.execute(s, {{DNNL_ARG_DIFF_DST, diff_dst_b.inner}, {DNNL_ARG_WEIGHTS, wei_b.inner},
                         {DNNL_ARG_DIFF_SRC, diff_src.inner}});
    diff_src.Out(s);
    s.wait();
  }, rounds, reps);
  double t_wei = BestMs([&] {
    src.In(s);
    diff_dst.In(s);
    bwd_wei.execute(s, {{DNNL_ARG_SRC, src.inner}, {DNNL_ARG_DIFF_DST, diff_dst.inner},
                        {DNNL_ARG_DIFF_WEIGHTS, diff_wei.inner}});
    diff_wei.Out(s);
    s.wait();
  }, rounds, reps);
  std::printf(
      "{\"n\": %d, \"h\": %d, \"w\": %d, \"c_in\": %d, \"c_out\": %d, \"k\": %d, \"layout\": \"%s\", "
      "\"forward_ms\": %.4f, \"input_grad_ms\": %.4f, \"weight_grad_ms\": %.4f, \"impl\": \"%s\"}\n",
      n, h, w, ci, co, k, blocked ? "blocked" : "nhwc", t_fwd, t_data, t_wei, fwd_pd.impl_info_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  int reps = argc > 2 ? std::atoi(argv[2]) : 10;
  int n, h, w, ci, co, k;
  while (std::cin >> n >> h >> w >> ci >> co >> k) {
    Layer(n, h, w, ci, co, k, false, rounds, reps);
    Layer(n, h, w, ci, co, k, true, rounds, reps);
  }
  return 0;
}
