// split: person-disjoint train/val/test splits, and optionally persons set
// aside for a judge: a classifier of generated faces that neither the
// pipeline's classifier nor its generators ever saw.
#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include <facet/plugin.hpp>

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

constexpr std::int64_t kTrain = 0, kVal = 1, kTest = 2, kJudge = 3;  // values of the `subset` tensor

class SplitStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {
        "split",
        "1.1",
        "Person-disjoint train/val/test split by fraction and seed, or the split the dataset gives; optionally "
        "persons set aside for an independent judge",
        "split",
        {ParamSpec::choice("mode", "random", {"random", "given"},
                           "random: shuffle persons with the step's seed; given: use the input's 'subset' "
                           "tensor (0 train, 1 val, 2 test)"),
         ParamSpec::real("train", 0.7, "fraction of images (whole persons) for training").range(0.0, 1.0),
         ParamSpec::real("val", 0.1, "fraction of images (whole persons) for validation").range(0.0, 1.0),
         ParamSpec::real("test", 0.2, "fraction of images (whole persons) for testing").range(0.0, 1.0),
         ParamSpec::real("judge", 0.0,
                         "fraction of images (whole persons, taken from training) for an independent judge of "
                         "generated faces (vggface with train_subset: judge)")
             .range(0.0, 1.0)},
        {{"people", "an artifact with person [N] int64 (and subset [N] for mode given)"}},
        {{"split", "subset [N] int64 (0 train, 1 val, 2 test, 3 judge) and the row indices train, val, test, judge"}}};
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
      subset = in.get("subset").to(torch::kInt64).clone();
      if (subset.numel() > 0 && (subset.min().item<std::int64_t>() < 0 || subset.max().item<std::int64_t>() > 2)) {
        throw facet::Error("split: the given 'subset' must hold 0 (train), 1 (val) or 2 (test)");
      }
      set_judge_aside(in.get("person").to(torch::kInt64).contiguous(), params.get_float("judge"), ctx.seed(), subset);
    } else {
      subset = random_split(in.get("person").to(torch::kInt64).contiguous(), params, ctx.seed());
    }
    const bool judged = params.get_float("judge") > 0;
    Artifact out;
    out.set("subset", subset);
    std::vector<std::string> names = {"train", "val", "test"};
    if (judged) names.push_back("judge");
    for (std::int64_t k = kTrain; k < static_cast<std::int64_t>(names.size()); ++k) {
      auto rows = torch::nonzero(subset == k).flatten();
      out.set(names[k], rows);
      ctx.metric(names[k] + "_images", static_cast<double>(rows.numel()));
    }
    out.set_attr("subset_names", names);
    ctx.info("train {} / val {} / test {} images{}", out.num_rows("train"), out.num_rows("val"), out.num_rows("test"),
             judged ? fmt::format(" / judge {}", out.num_rows("judge")) : std::string());
    if (judged && out.num_rows("judge") == 0) {
      throw facet::Error(fmt::format(
          "split: judge: {} sets aside no person (the fraction is under half of one person's images); raise it",
          params.get_float("judge")));
    }
    return {{"split", out}};
  }

 private:
  /// Shuffles persons, then fills train, val and test in turn with whole
  /// persons until each holds its fraction of the images.
  static torch::Tensor random_split(const torch::Tensor& person, const facet::Params& params, std::uint64_t seed) {
    const double train = params.get_float("train"), val = params.get_float("val"), test = params.get_float("test"),
                 judge = params.get_float("judge");
    if (std::fabs(train + val + test + judge - 1.0) > 1e-6) {
      throw facet::Error(fmt::format("split: train + val + test + judge must be 1, got {} + {} + {} + {} = {}", train,
                                     val, test, judge, train + val + test + judge));
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
    // Judge, then train, val and test: without a judge the split is the one made before judges existed.
    const double bounds[] = {judge * n, (judge + train) * n, (judge + train + val) * n};
    std::int64_t seen = 0;
    for (auto id : persons) {
      // A person goes where the middle of its images falls.
      const double middle = seen + count[id] / 2.0;
      assigned[id] = middle < bounds[0] ? kJudge : middle < bounds[1] ? kTrain : middle < bounds[2] ? kVal : kTest;
      seen += count[id];
    }
    auto subset = torch::empty({n}, torch::kInt64);
    auto* s = subset.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) s[i] = assigned[p[i]];
    return subset;
  }

  /// The given split's training persons, shuffled, move to the judge until
  /// it holds `fraction` of all images (whole persons, as random_split).
  static void set_judge_aside(const torch::Tensor& person, double fraction, std::uint64_t seed, torch::Tensor& subset) {
    if (fraction <= 0) return;
    const auto n = person.numel();
    const auto* p = person.data_ptr<std::int64_t>();
    auto* s = subset.data_ptr<std::int64_t>();
    std::map<std::int64_t, std::int64_t> count;
    for (std::int64_t i = 0; i < n; ++i) {
      if (s[i] == kTrain) ++count[p[i]];
    }
    std::vector<std::int64_t> persons;
    for (const auto& [id, c] : count) persons.push_back(id);
    std::mt19937_64 rng(seed);
    std::shuffle(persons.begin(), persons.end(), rng);
    std::set<std::int64_t> judges;
    std::int64_t seen = 0;
    for (auto id : persons) {
      if (seen + count[id] / 2.0 >= fraction * n) break;
      judges.insert(id);
      seen += count[id];
    }
    for (std::int64_t i = 0; i < n; ++i) {
      if (s[i] == kTrain && judges.count(p[i]) != 0) s[i] = kJudge;
    }
  }
};

}  // namespace

FACET_REGISTER_STEP(SplitStep);
