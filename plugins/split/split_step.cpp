// split: person-disjoint train/val/test splits.
#include <algorithm>
#include <numeric>
#include <random>

#include <facet/plugin.hpp>

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

constexpr std::int64_t kTrain = 0, kVal = 1, kTest = 2;  // values of the `subset` tensor

class SplitStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"split",
            "1.0",
            "Person-disjoint train/val/test split by fraction and seed, or the split the dataset gives",
            "split",
            {ParamSpec::choice("mode", "random", {"random", "given"},
                               "random: shuffle persons with the step's seed; given: use the input's 'subset' "
                               "tensor (0 train, 1 val, 2 test)"),
             ParamSpec::real("train", 0.7, "fraction of images (whole persons) for training").range(0.0, 1.0),
             ParamSpec::real("val", 0.1, "fraction of images (whole persons) for validation").range(0.0, 1.0),
             ParamSpec::real("test", 0.2, "fraction of images (whole persons) for testing").range(0.0, 1.0)},
            {{"people", "an artifact with person [N] int64 (and subset [N] for mode given)"}},
            {{"split", "subset [N] int64 (0 train, 1 val, 2 test) and the row indices train, val, test"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& in = inputs.at("people");
    torch::Tensor subset;
    if (params.get_string("mode") == "given") {
      if (!in.has("subset")) {
        throw facet::Error(
            fmt::format("split: mode given needs a 'subset' tensor in the input, which has: {}; "
                        "use mode: random",
                        fmt::join(in.tensor_names(), ", ")));
      }
      subset = in.get("subset").to(torch::kInt64);
      if (subset.numel() > 0 && (subset.min().item<std::int64_t>() < 0 || subset.max().item<std::int64_t>() > 2)) {
        throw facet::Error("split: the given 'subset' must hold 0 (train), 1 (val) or 2 (test)");
      }
    } else {
      subset = random_split(in.get("person").to(torch::kInt64).contiguous(), params, ctx.seed());
    }
    Artifact out;
    out.set("subset", subset);
    const char* names[] = {"train", "val", "test"};
    for (std::int64_t k = kTrain; k <= kTest; ++k) {
      auto rows = torch::nonzero(subset == k).flatten();
      out.set(names[k], rows);
      ctx.metric(std::string(names[k]) + "_images", static_cast<double>(rows.numel()));
    }
    out.set_attr("subset_names", std::vector<std::string>{"train", "val", "test"});
    ctx.info("train {} / val {} / test {} images", out.num_rows("train"), out.num_rows("val"), out.num_rows("test"));
    return {{"split", out}};
  }

 private:
  /// Shuffles persons, then fills train, val and test in turn with whole
  /// persons until each holds its fraction of the images.
  static torch::Tensor random_split(const torch::Tensor& person, const facet::Params& params, std::uint64_t seed) {
    const double train = params.get_float("train"), val = params.get_float("val"), test = params.get_float("test");
    if (std::fabs(train + val + test - 1.0) > 1e-6) {
      throw facet::Error(fmt::format("split: train + val + test must be 1, got {} + {} + {} = {}", train, val, test,
                                     train + val + test));
    }
    const auto n = person.numel();
    const auto* p = person.data_ptr<std::int64_t>();
    std::map<std::int64_t, std::int64_t> count;
    for (std::int64_t i = 0; i < n; ++i) ++count[p[i]];
    std::vector<std::int64_t> persons;
    for (const auto& [id, c] : count) persons.push_back(id);
    std::mt19937_64 rng(seed);
    std::shuffle(persons.begin(), persons.end(), rng);

    std::map<std::int64_t, std::int64_t> assigned;
    const double bounds[] = {train * n, (train + val) * n};
    std::int64_t seen = 0;
    for (auto id : persons) {
      // A person goes where the middle of its images falls.
      const double middle = seen + count[id] / 2.0;
      assigned[id] = middle < bounds[0] ? kTrain : middle < bounds[1] ? kVal : kTest;
      seen += count[id];
    }
    auto subset = torch::empty({n}, torch::kInt64);
    auto* s = subset.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) s[i] = assigned[p[i]];
    return subset;
  }
};

}  // namespace

FACET_REGISTER_STEP(SplitStep);
