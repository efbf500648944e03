#include <array>
#include <cmath>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "cpu_kernels.hpp"

using facet::vggface::batch_norm_relu;

namespace {

struct Pass {
  torch::Tensor y, dx, dweight, dbias;
};

/// One forward and backward pass through `bn` and a ReLU, fused or as LibTorch computes them.
Pass run(torch::nn::BatchNorm2d& bn, const torch::Tensor& input, const torch::Tensor& upstream, bool fused) {
  bn->zero_grad();
  const auto x = input.detach().clone(at::MemoryFormat::ChannelsLast).requires_grad_();
  const auto y = fused ? batch_norm_relu(x, *bn) : torch::relu(bn->forward(x));
  (y.to(torch::kDouble) * upstream).sum().backward();
  return {y.detach(), x.grad(), bn->weight.grad().clone(), bn->bias.grad().clone()};
}

/// Two BatchNorm2d with the same random affine parameters.
std::pair<torch::nn::BatchNorm2d, torch::nn::BatchNorm2d> twins(torch::nn::BatchNorm2dOptions options,
                                                                torch::Dtype type) {
  torch::nn::BatchNorm2d a(options), b(options);
  a->to(type);
  b->to(type);
  torch::NoGradGuard no_grad;
  a->weight.uniform_(0.5, 1.5);
  a->bias.uniform_(-0.5, 0.5);
  b->weight.copy_(a->weight);
  b->bias.copy_(a->bias);
  return {a, b};
}

void check_close(const torch::Tensor& got, const torch::Tensor& want, double tolerance) {
  INFO("largest difference " << (got.to(torch::kDouble) - want.to(torch::kDouble)).abs().max().item<double>());
  CHECK(got.scalar_type() == want.scalar_type());
  CHECK(torch::allclose(got.to(torch::kDouble), want.to(torch::kDouble), tolerance, tolerance));
}

}  // namespace

TEST_CASE("batch_norm_relu equals BatchNorm2d and ReLU: outputs, running statistics, gradients", "[vggface][bn]") {
  for (const auto type : {torch::kDouble, torch::kFloat}) {
    for (const bool cumulative : {false, true}) {
      INFO((type == torch::kDouble ? "float64" : "float32") << (cumulative ? ", cumulative average" : ""));
      torch::manual_seed(3);
      auto options = torch::nn::BatchNorm2dOptions(12);
      if (cumulative) options.momentum(c10::nullopt);
      auto [fused, reference] = twins(options, type);
      const double tolerance = type == torch::kDouble ? 1e-10 : 2e-5;
      // Mean far from zero against the spread, as convolution outputs can be; 600 pixels: three blocks.
      const auto x = (torch::randn({6, 12, 10, 10}, type) * 0.3 + 4.0).contiguous(at::MemoryFormat::ChannelsLast);
      for (int step = 0; step < 3; ++step) {
        const bool training = step < 2;
        fused->train(training);
        reference->train(training);
        const auto input = x + 0.1 * step;
        const auto upstream = torch::randn({6, 12, 10, 10}, torch::kDouble);
        const auto got = run(fused, input, upstream, true), want = run(reference, input, upstream, false);
        check_close(got.y, want.y, tolerance);
        CHECK(got.y.is_contiguous(at::MemoryFormat::ChannelsLast));
        check_close(got.dx, want.dx, tolerance);
        check_close(got.dweight, want.dweight, tolerance);
        check_close(got.dbias, want.dbias, tolerance);
        check_close(fused->running_mean, reference->running_mean, tolerance);
        check_close(fused->running_var, reference->running_var, tolerance);
        CHECK(fused->num_batches_tracked.item<std::int64_t>() == reference->num_batches_tracked.item<std::int64_t>());
      }
    }
  }
}

TEST_CASE("batch_norm_relu in bfloat16 keeps float32 statistics and gradients and follows the float32 result",
          "[vggface][bn]") {
  torch::manual_seed(4);
  auto [fused, reference] = twins(torch::nn::BatchNorm2dOptions(16), torch::kFloat);
  const auto x = (torch::randn({4, 16, 8, 8}) * 2 + 1).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
  // Upstream gradients that bfloat16 holds exactly, as the fused pass receives them in bfloat16.
  const auto upstream = torch::randn({4, 16, 8, 8}).to(torch::kBFloat16).to(torch::kDouble);
  const auto got = run(fused, x, upstream, true), want = run(reference, x.to(torch::kFloat), upstream, false);
  CHECK(got.y.scalar_type() == torch::kBFloat16);
  CHECK(got.dx.scalar_type() == torch::kBFloat16);
  CHECK(torch::allclose(got.y.to(torch::kFloat), want.y, 1e-2, 1e-2));  // bfloat16 keeps 8 bits
  CHECK(torch::allclose(got.dx.to(torch::kFloat), want.dx, 2e-2, 2e-2));
  check_close(got.dweight, want.dweight, 1e-3);
  check_close(got.dbias, want.dbias, 1e-3);
  check_close(fused->running_mean, reference->running_mean, 1e-5);
  check_close(fused->running_var, reference->running_var, 1e-5);
}

TEST_CASE("batch_norm_relu gives the same bits on one thread and on two", "[vggface][bn]") {
  torch::manual_seed(5);
  auto [one, two] = twins(torch::nn::BatchNorm2dOptions(8), torch::kFloat);
  const auto x = torch::randn({16, 8, 32, 32}).contiguous(at::MemoryFormat::ChannelsLast);
  const auto upstream = torch::randn({16, 8, 32, 32}, torch::kDouble);
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto serial = run(one, x, upstream, true);
  torch::set_num_threads(2);
  const auto parallel = run(two, x, upstream, true);
  torch::set_num_threads(threads);
  CHECK(torch::equal(serial.y, parallel.y));
  CHECK(torch::equal(serial.dx, parallel.dx));
  CHECK(torch::equal(serial.dweight, parallel.dweight));
  CHECK(torch::equal(one->running_var, two->running_var));
}

TEST_CASE("batch_norm_relu takes LibTorch's path where it does not fuse, and keeps its errors", "[vggface][bn]") {
  torch::manual_seed(6);
  auto [fused, reference] = twins(torch::nn::BatchNorm2dOptions(4), torch::kFloat);
  const auto nchw = torch::randn({2, 4, 5, 5});
  CHECK(torch::equal(batch_norm_relu(nchw, *fused), torch::relu(reference->forward(nchw))));
  const auto one_pixel = torch::randn({1, 4, 1, 1}).contiguous(at::MemoryFormat::ChannelsLast);
  CHECK_THROWS_WITH(batch_norm_relu(one_pixel, *fused), Catch::Contains("Expected more than 1 value per channel"));
}

TEST_CASE("batch_norm_relu in evaluation with frozen weights gives the input's gradient alone", "[vggface][bn]") {
  torch::manual_seed(7);
  auto [fused, reference] = twins(torch::nn::BatchNorm2dOptions(8), torch::kDouble);
  for (auto* bn : {&fused, &reference}) {
    (*bn)->eval();
    (*bn)->weight.requires_grad_(false);
    (*bn)->bias.requires_grad_(false);
  }
  const auto x = torch::randn({3, 8, 6, 6}, torch::kDouble).contiguous(at::MemoryFormat::ChannelsLast);
  const auto upstream = torch::randn({3, 8, 6, 6}, torch::kDouble);
  std::vector<torch::Tensor> dx;
  for (const bool fuse : {true, false}) {
    const auto input = x.clone(at::MemoryFormat::ChannelsLast).requires_grad_();
    const auto y = fuse ? batch_norm_relu(input, *fused) : torch::relu(reference->forward(input));
    (y * upstream).sum().backward();
    dx.push_back(input.grad());
  }
  check_close(dx[0], dx[1], 1e-12);
  CHECK_FALSE(fused->weight.grad().defined());
}

TEST_CASE("max_pool_2x2 equals max_pool2d: odd sizes, ties and NaN; with gradients it is max_pool2d",
          "[vggface][pool]") {
  torch::manual_seed(8);
  for (const auto type : {torch::kFloat, torch::kBFloat16, torch::kDouble}) {
    for (const auto& size : std::vector<std::array<std::int64_t, 2>>{{8, 8}, {7, 9}, {2, 3}}) {
      INFO(c10::toString(type) << " " << size[0] << " x " << size[1]);
      // Rounded to quarters: ties within windows.
      auto values = (torch::randn({3, 12, size[0], size[1]}) * 4).round() / 4;
      values.index_put_({0, 0, 0, 1}, std::nan(""));  // a NaN wins its window
      const auto x = values.to(type).contiguous(at::MemoryFormat::ChannelsLast);
      torch::Tensor own;
      {
        torch::NoGradGuard no_grad;
        own = facet::vggface::max_pool_2x2(x);
      }
      const auto reference = torch::max_pool2d(x, 2);
      CHECK(own.is_contiguous(at::MemoryFormat::ChannelsLast));
      CHECK(torch::equal(own.nan_to_num(-99), reference.nan_to_num(-99)));
      CHECK(std::isnan(own[0][0][0][0].item<double>()));
      // Where a gradient is wanted, LibTorch's pooling runs, with its indices.
      const auto input = x.clone(at::MemoryFormat::ChannelsLast).requires_grad_();
      facet::vggface::max_pool_2x2(input).sum().backward();
      const auto again = x.clone(at::MemoryFormat::ChannelsLast).requires_grad_();
      torch::max_pool2d(again, 2).sum().backward();
      CHECK(torch::equal(input.grad(), again.grad()));
    }
  }
}
