#include "tsne.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "facet/errors.hpp"

namespace facet::embed2d {

torch::Tensor pca(const torch::Tensor& x, std::int64_t dims) {
  const auto centred = x.to(torch::kFloat64) - x.to(torch::kFloat64).mean(0, true);
  const auto [u, s, v] = torch::linalg::svd(centred, /*full_matrices=*/false, c10::nullopt);
  const auto k = std::min<std::int64_t>(dims, v.size(0));
  return centred.matmul(v.slice(0, 0, k).t()).to(torch::kFloat32);
}

namespace {

/// Sparse symmetric P in CSR form.
struct Affinities {
  std::vector<std::int64_t> row_start, column;
  std::vector<double> value;
};

/// Each point's k nearest neighbours by squared Euclidean distance, nearest
/// first: row-major [N, k] indices and distances.
struct Neighbours {
  std::int64_t n = 0, k = 0;
  std::vector<std::int64_t> index;
  std::vector<double> distance;
};

Neighbours nearest_neighbours(const torch::Tensor& x, std::int64_t k) {
  const std::int64_t n = x.size(0);
  const auto xd = x.to(torch::kFloat32);
  const auto norms = xd.pow(2).sum(1);
  Neighbours nb;
  nb.n = n;
  nb.k = k;
  nb.index.resize(static_cast<size_t>(n * k));
  nb.distance.resize(static_cast<size_t>(n * k));
  constexpr std::int64_t kChunk = 1024;  // rows per distance block: bounds memory to kChunk x N
  for (std::int64_t begin = 0; begin < n; begin += kChunk) {
    const auto end = std::min(n, begin + kChunk);
    auto d = norms.slice(0, begin, end).unsqueeze(1) + norms.unsqueeze(0) - 2 * xd.slice(0, begin, end).matmul(xd.t());
    d.clamp_min_(0);
    for (std::int64_t i = begin; i < end; ++i) d[i - begin][i] = std::numeric_limits<float>::infinity();
    const auto [vals, idx] = d.topk(k, 1, /*largest=*/false);
    const auto v = vals.to(torch::kFloat64).contiguous(), ix = idx.contiguous();
    std::copy(v.data_ptr<double>(), v.data_ptr<double>() + v.numel(), nb.distance.begin() + begin * k);
    std::copy(ix.data_ptr<std::int64_t>(), ix.data_ptr<std::int64_t>() + ix.numel(), nb.index.begin() + begin * k);
  }
  return nb;
}

/// p_j|i over each point's neighbours, the Gaussian's width set by binary
/// search so that the distribution's perplexity is the one asked for.
std::vector<double> conditional_probabilities(const Neighbours& nb, double perplexity) {
  const std::int64_t n = nb.n, k = nb.k;
  std::vector<double> conditional(nb.distance.size());
  const double target = std::log(perplexity);
  at::parallel_for(0, n, 64, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const double* d = &nb.distance[static_cast<size_t>(i * k)];
      double* p = &conditional[static_cast<size_t>(i * k)];
      double beta = 1, beta_lo = 0, beta_hi = std::numeric_limits<double>::infinity();
      for (int step = 0; step < 100; ++step) {
        double sum = 0, weighted = 0;
        for (std::int64_t j = 0; j < k; ++j) {
          p[j] = std::exp(-beta * (d[j] - d[0]));
          sum += p[j];
          weighted += beta * (d[j] - d[0]) * p[j];
        }
        const double entropy = std::log(sum) + weighted / sum;
        for (std::int64_t j = 0; j < k; ++j) p[j] /= sum;
        if (std::fabs(entropy - target) < 1e-5) break;
        if (entropy > target) {
          beta_lo = beta;
          beta = std::isinf(beta_hi) ? beta * 2 : (beta + beta_hi) / 2;
        } else {
          beta_hi = beta;
          beta = (beta + beta_lo) / 2;
        }
      }
    }
  });
  return conditional;
}

/// Conditional probabilities over the nearest neighbours, symmetrised:
/// p_ij = (p_j|i + p_i|j) / 2N.
Affinities input_affinities(const torch::Tensor& x, double perplexity) {
  const std::int64_t n = x.size(0);
  const std::int64_t k = std::min<std::int64_t>(n - 1, static_cast<std::int64_t>(3 * perplexity));
  const auto nb = nearest_neighbours(x, k);
  const auto conditional = conditional_probabilities(nb, perplexity);
  // Collect (i, j, p) and (j, i, p), then merge duplicates per row.
  std::vector<std::vector<std::pair<std::int64_t, double>>> rows(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < k; ++j) {
      const auto other = nb.index[static_cast<size_t>(i * k + j)];
      const double p = conditional[static_cast<size_t>(i * k + j)] / (2.0 * static_cast<double>(n));
      rows[static_cast<size_t>(i)].push_back({other, p});
      rows[static_cast<size_t>(other)].push_back({i, p});
    }
  }
  Affinities a;
  a.row_start.push_back(0);
  for (auto& row : rows) {
    std::sort(row.begin(), row.end());
    for (size_t m = 0; m < row.size(); ++m) {
      if (!a.column.empty() && m > 0 && row[m].first == row[m - 1].first) {
        a.value.back() += row[m].second;
      } else {
        a.column.push_back(row[m].first);
        a.value.push_back(row[m].second);
      }
    }
    a.row_start.push_back(static_cast<std::int64_t>(a.column.size()));
  }
  return a;
}

/// A quadtree over the embedding: each cell knows its centre of mass and
/// point count, so a far cell's repulsion is computed as one point's.
class QuadTree {
 public:
  QuadTree(const std::vector<double>& y, std::int64_t n) : y_(y) {
    double min_x = y[0], max_x = y[0], min_y = y[1], max_y = y[1];
    for (std::int64_t i = 0; i < n; ++i) {
      min_x = std::min(min_x, y[2 * i]);
      max_x = std::max(max_x, y[2 * i]);
      min_y = std::min(min_y, y[2 * i + 1]);
      max_y = std::max(max_y, y[2 * i + 1]);
    }
    const double half = std::max(max_x - min_x, max_y - min_y) / 2 + 1e-5;
    nodes_.push_back(Node{(min_x + max_x) / 2, (min_y + max_y) / 2, half});
    for (std::int64_t i = 0; i < n; ++i) insert(0, i, 0);
  }

  /// Repulsive force on point i (unnormalised) and its contribution to Z.
  void repulsion(std::int64_t i, double theta, double& fx, double& fy, double& z) const {
    visit(0, i, theta * theta, fx, fy, z);
  }

 private:
  struct Node {
    double cx, cy, half;    // cell centre and half width
    double mx = 0, my = 0;  // centre of mass
    std::int64_t count = 0;
    std::int64_t point = -1;  // the single point of a leaf
    std::int64_t child = -1;  // index of the first of 4 children
  };
  static constexpr int kMaxDepth = 48;  // beyond this, coincident points share a leaf

  void insert(std::int64_t node, std::int64_t i, int depth) {
    const double px = y_[2 * i], py = y_[2 * i + 1];
    Node* nd = &nodes_[static_cast<size_t>(node)];
    nd->mx = (nd->mx * nd->count + px) / (nd->count + 1);
    nd->my = (nd->my * nd->count + py) / (nd->count + 1);
    ++nd->count;
    if (nd->count == 1) {
      nd->point = i;
      return;
    }
    if (depth >= kMaxDepth) return;
    if (nd->child < 0) {
      const auto first = static_cast<std::int64_t>(nodes_.size());
      const double h = nd->half / 2, cx = nd->cx, cy = nd->cy;
      const std::int64_t old = nd->point;
      for (int q = 0; q < 4; ++q) nodes_.push_back(Node{cx + ((q & 1) ? h : -h), cy + ((q & 2) ? h : -h), h});
      nd = &nodes_[static_cast<size_t>(node)];
      nd->child = first;
      nd->point = -1;
      if (old >= 0) insert(first + quadrant(*nd, y_[2 * old], y_[2 * old + 1]), old, depth + 1);
    }
    nd = &nodes_[static_cast<size_t>(node)];
    insert(nd->child + quadrant(*nd, px, py), i, depth + 1);
  }

  static int quadrant(const Node& nd, double x, double y) { return (x > nd.cx ? 1 : 0) + (y > nd.cy ? 2 : 0); }

  void visit(std::int64_t node, std::int64_t i, double theta2, double& fx, double& fy, double& z) const {
    const Node& nd = nodes_[static_cast<size_t>(node)];
    if (nd.count == 0 || (nd.count == 1 && nd.point == i)) return;
    const double dx = y_[2 * i] - nd.mx, dy = y_[2 * i + 1] - nd.my;
    const double d2 = dx * dx + dy * dy;
    const double width = 2 * nd.half;
    if (nd.child < 0 || width * width < theta2 * d2) {
      const double q = 1.0 / (1.0 + d2);
      // A leaf holding i among coincident points counts the others only.
      const double mult = (nd.child < 0 && nd.point != i && d2 == 0 && nd.count > 1) ? nd.count - 1 : nd.count;
      z += mult * q;
      fx += mult * q * q * dx;
      fy += mult * q * q * dy;
      return;
    }
    for (int c = 0; c < 4; ++c) visit(nd.child + c, i, theta2, fx, fy, z);
  }

  const std::vector<double>& y_;
  std::vector<Node> nodes_;
};

}  // namespace

torch::Tensor tsne(const torch::Tensor& x, const TsneOptions& o, facet::ProgressBar* progress) {
  const std::int64_t n = x.size(0);
  if (n < 4) throw facet::Error(fmt::format("t-SNE needs at least 4 points, got {}", n));
  const double perplexity = std::min(o.perplexity, (n - 1) / 3.0);
  const auto p = input_affinities(x, perplexity);
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> normal(0.0, 1e-4);
  std::vector<double> y(static_cast<size_t>(2 * n)), velocity(y.size(), 0.0), gains(y.size(), 1.0), grad(y.size());
  for (auto& v : y) v = normal(rng);
  const double learning_rate = std::max(static_cast<double>(n) / o.exaggeration, 50.0);
  std::vector<double> rep(y.size()), zs(static_cast<size_t>(n));
  // Short runs still spend three quarters of their iterations unexaggerated.
  const std::int64_t exaggerated = std::min(o.exaggeration_iters, o.iterations / 4);
  for (std::int64_t it = 0; it < o.iterations; ++it) {
    const double exaggeration = it < exaggerated ? o.exaggeration : 1.0;
    const double momentum = it < exaggerated ? 0.5 : 0.8;
    const QuadTree tree(y, n);
    at::parallel_for(0, n, 128, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) {
        double fx = 0, fy = 0, z = 0;
        tree.repulsion(i, o.theta, fx, fy, z);
        rep[2 * i] = fx;
        rep[2 * i + 1] = fy;
        zs[i] = z;
        double ax = 0, ay = 0;
        for (auto m = p.row_start[i]; m < p.row_start[i + 1]; ++m) {
          const auto j = p.column[m];
          const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
          const double q = 1.0 / (1.0 + dx * dx + dy * dy);
          ax += p.value[m] * q * dx;
          ay += p.value[m] * q * dy;
        }
        grad[2 * i] = exaggeration * ax;
        grad[2 * i + 1] = exaggeration * ay;
      }
    });
    double z = 0;
    for (double v : zs) z += v;
    for (size_t k = 0; k < y.size(); ++k) {
      const double g = 4.0 * (grad[k] - rep[k] / z);
      // Delta-bar-delta gains, as in the reference implementation.
      gains[k] = (g > 0) != (velocity[k] > 0) ? gains[k] + 0.2 : std::max(gains[k] * 0.8, 0.01);
      velocity[k] = momentum * velocity[k] - learning_rate * gains[k] * g;
      y[k] += velocity[k];
    }
    double mx = 0, my = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      mx += y[2 * i];
      my += y[2 * i + 1];
    }
    for (std::int64_t i = 0; i < n; ++i) {
      y[2 * i] -= mx / n;
      y[2 * i + 1] -= my / n;
    }
    if (progress != nullptr) progress->advance(1);
  }
  return torch::tensor(y, torch::kFloat64).view({n, 2}).to(torch::kFloat32);
}

}  // namespace facet::embed2d
