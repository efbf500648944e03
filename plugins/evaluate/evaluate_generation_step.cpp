// evaluate_generation: judges generated faces. One or two attribute
// classifiers (the baseline's `classifier` and, better, an independent
// `judge` that no generator or tuning saw) say whether they find the
// requested attributes, beside what they find in real faces that have them
// (the ceiling); distances in fc7 space (the unbiased Kernel Inception
// Distance and the Frechet distance, with baselines and the Frechet
// estimator's bias at this sample size) compare the faces with real ones,
// over all requests and per request; and the faces drawn for one request
// are measured for diversity.
#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/ranges.h>

#include <facet/markdown.hpp>
#include <facet/plugin.hpp>

#include "generation_judge.hpp"
#include "generation_metrics.hpp"

namespace evaluate = facet::evaluate;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

constexpr std::int64_t kCeilingFaces = 200;    // real faces judged per requested attribute
constexpr std::int64_t kPerRequestReal = 256;  // real faces per request compared with its generated ones
constexpr double kBlindCeiling = 0.5;          // a ceiling below this: the judge cannot judge the attribute

/// The generated faces and what was asked of each.
struct Samples {
  torch::Tensor images;                  ///< uint8 [N, 3, s, s]
  torch::Tensor request;                 ///< [N] request index of each face
  torch::Tensor requested;               ///< [R, A] 1 where request r asks for attribute a
  std::vector<std::string> names;        ///< A attribute names
  std::vector<std::string> texts;        ///< R request texts
  std::vector<std::vector<int>> wanted;  ///< attributes of each request
  std::int64_t written = 0;              ///< the first `written` requests were written; the rest held out
  std::int64_t size() const { return images.size(2); }
  bool held_out(size_t r) const { return static_cast<std::int64_t>(r) >= written; }
};

/// A judge's counts over one set of requests (written or held out).
struct Tally {
  std::string name;                        ///< "written" or "held out"
  std::string prefix;                      ///< of its metric names
  std::vector<std::int64_t> asked, found;  ///< per attribute: (face, attribute) pairs
  double accuracy = -1, ceiling = -1, rendered_accuracy = -1, rendered_ceiling = -1;
  std::vector<std::string> blind;
  bool empty() const {
    return std::all_of(asked.begin(), asked.end(), [](auto n) { return n == 0; });
  }
};

/// One classifier's verdict on the generated faces.
struct Verdict {
  std::string title;                  ///< its column heading
  std::vector<double> ceiling;        ///< per attribute; -1 where unknown
  std::vector<double> request_found;  ///< per request: the fraction of its pairs found
  std::array<Tally, 2> sets;          ///< the written requests, the held-out ones
  torch::Tensor generated_fc7;
};

/// The distances between generated and real faces in one judge's fc7 space.
struct Distances {
  std::string space;
  std::int64_t generated = 0, real = 0;
  evaluate::Kid kid, kid_real;
  double frechet = 0, frechet_real = 0, frechet_mean_face = 0, frechet_noise = 0, diversity = 0;
  std::vector<std::optional<evaluate::Kid>> per_request;
  std::vector<std::int64_t> per_request_real;
};

class EvaluateGenerationStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {
        "evaluate_generation",
        "1.3",
        "Judges generated faces: requested-attribute accuracy by the classifier and an independent judge, KID "
        "and Frechet distance (overall and per request), diversity",
        "evaluation",
        {ParamSpec::choice("subset", "test", {"train", "val", "test", "all"}, "real faces to compare with"),
         ParamSpec::integer("real_count", 2000, "real faces used at most (evenly spaced)").range(4, 10'000'000)},
        {{"samples", "a generator's samples (images, request, requested; attribute_names, requests)"},
         {"classifier", "a vggface model (the trained attribute classifier)"},
         {"judge", "an independent vggface model that no generator or tuning saw (judges beside `classifier`)", true},
         {"images", "the real faces (the dataset's images)"},
         {"split", "which real faces are in `subset`", true},
         {"attributes", "the dataset's attributes: ceilings, per-request real faces, rendered attributes", true}},
        {{"report",
          "per requested attribute, over all requests: requested [A], hits [A] (and judge_hits [A]); "
          "attribute_names"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const auto samples = read_samples(inputs.at("samples"));
    const auto* split = inputs.count("split") != 0 ? &inputs.at("split") : nullptr;
    const auto real_rows =
        evaluate::subset_rows(split, params.get_string("subset"), inputs.at("images").num_rows("images"));
    if (real_rows.size() < 4) {
      throw facet::Error(fmt::format("the {} subset has {} real faces; at least 4 are needed",
                                     params.get_string("subset"), real_rows.size()));
    }
    std::vector<Verdict> verdicts;
    std::vector<evaluate::Judge> judges;
    judges.reserve(2);
    for (const std::string port : {"classifier", "judge"}) {
      if (inputs.count(port) == 0) continue;
      auto& judge = judges.emplace_back(inputs.at(port), fmt::format("the '{}' input", port), ctx.seed());
      const bool independent = port == "judge";
      verdicts.push_back(judge_requests(judge, samples, independent ? "independent judge" : "classifier",
                                        independent ? "judge_" : ""));
      if (inputs.count("attributes") != 0) measure_ceilings(judge, samples, inputs, real_rows, verdicts.back());
      summarise(verdicts.back(), samples, inputs, ctx);
    }
    // Distances in the independent judge's fc7 where there is one: the
    // classifier may be what a generator was tuned on, or optimised through.
    const auto distances = measure_distances(judges.back(), verdicts.back(), samples, inputs, real_rows,
                                             params.get_int("real_count"), ctx);
    report_metrics(distances, ctx);
    ctx.save_file("generation.md", markdown(samples, verdicts, distances));

    Artifact report;
    const auto all = [](const Verdict& v, auto member) {
      return torch::tensor(v.sets[0].*member, torch::kInt64) + torch::tensor(v.sets[1].*member, torch::kInt64);
    };
    report.set("requested", all(verdicts[0], &Tally::asked));
    report.set("hits", all(verdicts[0], &Tally::found));
    if (verdicts.size() > 1) report.set("judge_hits", all(verdicts[1], &Tally::found));
    report.set_attr("attribute_names", samples.names);
    return {{"report", report}};
  }

 private:
  static Samples read_samples(const Artifact& in) {
    Samples s;
    s.images = in.get("images");
    s.request = in.get("request").contiguous();
    s.requested = in.get("requested").contiguous();
    s.names = in.attr_strings("attribute_names");
    s.texts = in.has_attr("requests") ? in.attr_strings("requests") : std::vector<std::string>{};
    for (std::int64_t r = 0; r < s.requested.size(0); ++r) {
      s.wanted.emplace_back();
      for (size_t a = 0; a < s.names.size(); ++a) {
        if (s.requested[r][static_cast<std::int64_t>(a)].item<std::int64_t>() != 0) s.wanted.back().push_back(int(a));
      }
      if (s.texts.size() <= static_cast<size_t>(r)) s.texts.push_back(fmt::format("request {}", r + 1));
    }
    s.written = in.has_attr("written_requests") ? in.attr_int("written_requests") : s.requested.size(0);
    return s;
  }

  /// (a) Does the judge find what was asked for, per attribute and per request?
  static Verdict judge_requests(evaluate::Judge& judge, const Samples& s, const std::string& title,
                                const std::string& prefix) {
    Verdict v;
    v.title = title;
    const auto faces = judge(s.images);
    v.generated_fc7 = faces.fc7;
    const auto A = s.names.size();
    v.sets = {
        Tally{"written", prefix, std::vector<std::int64_t>(A, 0), std::vector<std::int64_t>(A, 0)},
        Tally{"held out", prefix + "held_out_", std::vector<std::int64_t>(A, 0), std::vector<std::int64_t>(A, 0)}};
    v.ceiling.assign(A, -1.0);
    std::vector<std::int64_t> request_asked(s.wanted.size(), 0), request_found(s.wanted.size(), 0);
    for (size_t a = 0; a < A; ++a) {
      torch::Tensor hits;
      for (size_t r = 0; r < s.wanted.size(); ++r) {
        if (std::find(s.wanted[r].begin(), s.wanted[r].end(), int(a)) == s.wanted[r].end()) continue;
        if (!hits.defined()) hits = judge.finds(faces.classes, s.names[a]);
        const auto mine = s.request == static_cast<std::int64_t>(r);
        const auto n = mine.sum().item<std::int64_t>(), k = hits.index({mine}).sum().item<std::int64_t>();
        auto& tally = v.sets[s.held_out(r) ? 1 : 0];
        tally.asked[a] += n;
        tally.found[a] += k;
        request_asked[r] += n;
        request_found[r] += k;
      }
    }
    for (size_t r = 0; r < s.wanted.size(); ++r) {
      v.request_found.push_back(request_asked[r] > 0 ? double(request_found[r]) / double(request_asked[r]) : 0.0);
    }
    return v;
  }

  /// The ceiling: real faces of the subset that have the attribute, seen at
  /// the generated size, judged the same way (a generator cannot be found
  /// to draw what the judge misses in real faces of that size).
  static void measure_ceilings(evaluate::Judge& judge, const Samples& s, const Artifacts& inputs,
                               const std::vector<std::int64_t>& real_rows, Verdict& v) {
    const auto scores = inputs.at("attributes").get("scores").to(torch::kFloat32).contiguous();
    const auto score = scores.accessor<float, 2>();
    for (size_t a = 0; a < s.names.size(); ++a) {
      if (v.sets[0].asked[a] + v.sets[1].asked[a] == 0) continue;
      std::vector<std::int64_t> with;
      for (auto row : real_rows) {
        if (score[row][static_cast<std::int64_t>(a)] > 0) with.push_back(row);
      }
      if (with.empty()) continue;
      const auto faces =
          evaluate::resized_faces(inputs.at("images"), evaluate::evenly_spaced(with, kCeilingFaces), s.size());
      v.ceiling[a] = judge.finds(judge(faces).classes, s.names[a]).to(torch::kFloat64).mean().item<double>();
    }
  }

  /// Means over the requested attributes (and the rendered ones), the blind
  /// attributes, and the judge's metrics, for each set of requests.
  static void summarise(Verdict& v, const Samples& s, const Artifacts& inputs, facet::Context& ctx) {
    std::set<std::string> rendered;
    if (inputs.count("attributes") != 0 && inputs.at("attributes").has_attr("rendered_attributes")) {
      for (const auto& n : inputs.at("attributes").attr_strings("rendered_attributes")) rendered.insert(n);
    }
    for (auto& t : v.sets) {
      if (t.empty()) continue;
      struct Mean {
        double sum = 0;
        int n = 0;
        void add(double x) { sum += x, ++n; }
        double value() const { return n > 0 ? sum / n : -1.0; }
      } all, all_ceiling, some, some_ceiling;
      for (size_t a = 0; a < s.names.size(); ++a) {
        if (t.asked[a] == 0) continue;
        const double acc = double(t.found[a]) / double(t.asked[a]);
        const bool is_rendered = rendered.count(s.names[a]) != 0;
        all.add(acc);
        if (is_rendered) some.add(acc);
        if (v.ceiling[a] < 0) continue;
        all_ceiling.add(v.ceiling[a]);
        if (is_rendered) some_ceiling.add(v.ceiling[a]);
        if (v.ceiling[a] < kBlindCeiling) t.blind.push_back(s.names[a]);
      }
      t.accuracy = all.value();
      t.ceiling = all_ceiling.value();
      t.rendered_accuracy = some.value();
      t.rendered_ceiling = some_ceiling.value();
      ctx.metric(t.prefix + "requested_accuracy", t.accuracy);
      if (t.ceiling >= 0) ctx.metric(t.prefix + "real_requested_accuracy", t.ceiling);
      if (t.rendered_accuracy >= 0) ctx.metric(t.prefix + "rendered_requested_accuracy", t.rendered_accuracy);
      if (t.rendered_ceiling >= 0) ctx.metric(t.prefix + "rendered_real_requested_accuracy", t.rendered_ceiling);
      if (inputs.count("attributes") != 0) ctx.metric(t.prefix + "blind_requested", double(t.blind.size()));
      if (!t.blind.empty()) {
        ctx.warn(
            "the {} finds {} in under half of the real {}-px faces that have them, so its figures for them say "
            "little about the generator; judge with a classifier whose heads for them learned (see its training "
            "log: heads that fell back to their majority class are listed there)",
            v.title, fmt::join(t.blind, ", "), s.size());
      }
      ctx.info(
          "the {} finds the attributes of the {} requests in {:.1f}% of (face, requested attribute) pairs ({:.1f}% "
          "in real faces with them)",
          v.title, t.name, 100 * t.accuracy, 100 * t.ceiling);
    }
  }

  /// (b) Real faces against generated ones in the judge's fc7 space, and
  /// (c) the diversity of the faces drawn for one request.
  static Distances measure_distances(evaluate::Judge& judge, const Verdict& v, const Samples& s,
                                     const Artifacts& inputs, const std::vector<std::int64_t>& real_rows,
                                     std::int64_t real_count, facet::Context& ctx) {
    Distances d;
    d.space = v.title;
    const auto& images = inputs.at("images");
    const auto& gen = v.generated_fc7;
    const auto real = evaluate::resized_faces(images, evaluate::evenly_spaced(real_rows, real_count), s.size());
    const auto real_fc7 = judge(real).fc7;
    d.generated = gen.size(0);
    d.real = real_fc7.size(0);
    d.kid = evaluate::kernel_distance(gen, real_fc7, ctx.seed());
    d.frechet = evaluate::frechet_distance(real_fc7, gen);
    // Real faces against the other real faces, as many as were generated
    // (at most half): what both estimators give when nothing differs.
    const auto held = std::min(d.generated, d.real / 2);
    auto generator = at::detail::createCPUGenerator(ctx.seed() + 1);
    const auto order = torch::randperm(d.real, generator, torch::kInt64);
    const auto one = real_fc7.index_select(0, order.slice(0, 0, held));
    const auto rest = real_fc7.index_select(0, order.slice(0, held));
    // Subsets of half of them: whole sets would give every subset the same value and no spread.
    d.kid_real = evaluate::kernel_distance(one, rest, ctx.seed(), 100, std::max<std::int64_t>(2, held / 2));
    d.frechet_real = evaluate::frechet_distance(rest, one);
    torch::manual_seed(ctx.seed() & 0x7fffffffffffffffULL);  // the noise baseline: same pipeline, same numbers
    const auto mean_face =
        real.to(torch::kFloat32).mean(0, true).round().to(torch::kUInt8).repeat({d.generated, 1, 1, 1});
    d.frechet_mean_face = evaluate::frechet_distance(real_fc7, judge(mean_face).fc7);
    d.frechet_noise =
        evaluate::frechet_distance(real_fc7, judge(torch::randint(0, 256, s.images.sizes(), torch::kUInt8)).fc7);

    // Per request: the real faces of the subset that have every requested attribute.
    const bool have_scores = inputs.count("attributes") != 0;
    const auto scores =
        have_scores ? inputs.at("attributes").get("scores").to(torch::kFloat32).contiguous() : torch::zeros({1, 1});
    const auto score = scores.accessor<float, 2>();
    for (size_t r = 0; r < s.wanted.size(); ++r) {
      const auto mine = gen.index({s.request == static_cast<std::int64_t>(r)});
      d.diversity += evaluate::mean_pairwise_distance(mine);
      std::vector<std::int64_t> with;
      for (auto row : real_rows) {
        bool all = have_scores;
        for (int a : s.wanted[r]) all = all && score[row][a] > 0;
        if (all) with.push_back(row);
      }
      d.per_request_real.push_back(static_cast<std::int64_t>(with.size()));
      if (with.size() < 2 || mine.size(0) < 2) {
        d.per_request.emplace_back();
        continue;
      }
      const auto theirs =
          judge(evaluate::resized_faces(images, evaluate::evenly_spaced(with, kPerRequestReal), s.size())).fc7;
      d.per_request.emplace_back(evaluate::kernel_distance(mine, theirs, ctx.seed() + 2 + r));
    }
    d.diversity /= static_cast<double>(std::max<size_t>(1, s.wanted.size()));
    return d;
  }

  static void report_metrics(const Distances& d, facet::Context& ctx) {
    ctx.metric("kid", d.kid.mean);
    ctx.metric("kid_spread", d.kid.spread);
    ctx.metric("kid_real", d.kid_real.mean);
    ctx.metric("frechet", d.frechet);
    ctx.metric("frechet_real", d.frechet_real);
    ctx.metric("frechet_mean_face", d.frechet_mean_face);
    ctx.metric("frechet_noise", d.frechet_noise);
    ctx.metric("diversity_fc7", d.diversity);
    double sum = 0;
    int n = 0;
    for (const auto& k : d.per_request) {
      if (k) sum += k->mean, ++n;
    }
    if (n > 0) ctx.metric("kid_per_request", sum / n);
    ctx.info(
        "in the {}'s fc7: KID {:.4g} +- {:.2g} (real faces: {:.4g}); Frechet {:.2f} (real faces: {:.2f}, mean "
        "face {:.2f}, noise {:.2f}); diversity {:.3f}",
        d.space, d.kid.mean, d.kid.spread, d.kid_real.mean, d.frechet, d.frechet_real, d.frechet_mean_face,
        d.frechet_noise, d.diversity);
  }

  static std::string number(double x) { return x < 0 ? std::string("-") : fmt::format("{:.3f}", x); }

  static std::string markdown(const Samples& s, const std::vector<Verdict>& verdicts, const Distances& d) {
    std::string md =
        fmt::format("# Generated faces judged ({} faces, {} requests: {} written, {} held out)\n\n", s.images.size(0),
                    s.wanted.size(), s.written, static_cast<std::int64_t>(s.wanted.size()) - s.written);
    md += verdicts.size() > 1
              ? "Two judges: the classifier (the pipeline's own, which a generator may have been tuned on or, "
                "inverting, optimised through) and the independent judge (its own persons and seed; no generator "
                "or tuning saw it). "
              : "Judged by the classifier alone (connect a `judge` for an independent one). ";
    md +=
        "Written requests are the pipeline's own; held-out ones were drawn at random from attribute combinations of "
        "real test faces, and nothing was tuned on them. Accuracy: the fraction of (face, requested attribute) pairs "
        "in which the judge finds the attribute.\n\n";
    std::vector<std::pair<const Verdict*, const Tally*>> columns;
    for (size_t set = 0; set < 2; ++set) {
      for (const auto& v : verdicts) {
        if (!v.sets[set].empty()) columns.emplace_back(&v, &v.sets[set]);
      }
    }
    std::string head = "| measure |", rule = "|---|";
    for (const auto& [v, t] : columns) head += " " + v->title + ", " + t->name + " |", rule += "---:|";
    md += head + "\n" + rule + "\n";
    const auto row = [&](const std::string& label, auto get) {
      md += "| " + label + " |";
      for (const auto& [v, t] : columns) md += " " + number(get(*t)) + " |";
      md += "\n";
    };
    row("requested-attribute accuracy", [](const Tally& t) { return t.accuracy; });
    row("... over rendered attributes", [](const Tally& t) { return t.rendered_accuracy; });
    row("the same in real faces with each attribute (the ceiling)", [](const Tally& t) { return t.ceiling; });
    row("... over rendered attributes", [](const Tally& t) { return t.rendered_ceiling; });
    md += distance_table(d);
    md += per_request_table(s, verdicts, d);
    for (size_t set = 0; set < 2; ++set) md += per_attribute_table(s, verdicts, set);
    for (const auto& [v, t] : columns) {
      if (t->blind.empty()) continue;
      md += fmt::format(
          "\nThe {} misses {} in most real faces that have them: its rows for them ({} requests) say little about "
          "the generator.\n",
          v->title, fmt::join(t->blind, ", "), t->name);
    }
    return md;
  }

  static std::string distance_table(const Distances& d) {
    std::string md = fmt::format(
        "\nDistances in the {}'s fc7 space, {} generated faces against {} real ones. KID: the unbiased "
        "estimator (cubic polynomial kernel), mean +- standard deviation over 100 random subsets of {}; 0 expected "
        "for faces from the real distribution. The Frechet distance is biased upward at this sample size: the "
        "real-against-real row is its value where nothing differs.\n\n",
        d.space, d.generated, d.real, d.kid.subset_size);
    md += "| measure | value |\n|---|---:|\n";
    md += fmt::format("| KID, generated | {:.4g} +- {:.2g} |\n", d.kid.mean, d.kid.spread);
    md += fmt::format("| KID, real against real (subsets of {}) | {:.4g} +- {:.2g} |\n", d.kid_real.subset_size,
                      d.kid_real.mean, d.kid_real.spread);
    md += fmt::format("| Frechet distance, generated | {:.2f} |\n", d.frechet);
    md += fmt::format("| Frechet distance, real against real (the estimator's bias) | {:.2f} |\n", d.frechet_real);
    md += fmt::format("| Frechet distance, the mean real face | {:.2f} |\n", d.frechet_mean_face);
    md += fmt::format("| Frechet distance, uniform noise | {:.2f} |\n", d.frechet_noise);
    md += fmt::format("| diversity (mean pairwise fc7 distance per request) | {:.3f} |\n", d.diversity);
    return md;
  }

  static std::string per_request_table(const Samples& s, const std::vector<Verdict>& verdicts, const Distances& d) {
    std::string md =
        "\n## Per request\n\nKID against the real faces of the subset that have every requested attribute.\n\n";
    std::string head = "| request | faces |", rule = "|---|---:|";
    for (const auto& v : verdicts) head += " " + v.title + " finds |", rule += "---:|";
    md += head + " real faces with it | KID to them |\n" + rule + "---:|---:|\n";
    for (size_t r = 0; r < s.wanted.size(); ++r) {
      md += fmt::format("| {}{} | {} |", facet::markdown_cell(s.texts[r]), s.held_out(r) ? " (held out)" : "",
                        (s.request == static_cast<std::int64_t>(r)).sum().item<std::int64_t>());
      for (const auto& v : verdicts) md += " " + number(v.request_found[r]) + " |";
      const auto& k = d.per_request[r];
      md += fmt::format(" {} | {} |\n", d.per_request_real[r],
                        k ? fmt::format("{:.4g} +- {:.2g}", k->mean, k->spread) : std::string("-"));
    }
    return md;
  }

  static std::string per_attribute_table(const Samples& s, const std::vector<Verdict>& verdicts, size_t set) {
    const auto& first = verdicts[0].sets[set];
    if (first.empty()) return "";
    std::string md = fmt::format("\n## Per requested attribute, {} requests\n\n", first.name);
    std::string head = "| requested attribute | faces |", rule = "|---|---:|";
    for (const auto& v : verdicts) head += " " + v.title + " finds it | in real faces with it |", rule += "---:|---:|";
    md += head + "\n" + rule + "\n";
    for (size_t a = 0; a < s.names.size(); ++a) {
      if (first.asked[a] == 0) continue;
      md += fmt::format("| {} | {} |", facet::markdown_cell(s.names[a]), first.asked[a]);
      for (const auto& v : verdicts) {
        const auto& t = v.sets[set];
        md += " " + number(double(t.found[a]) / double(t.asked[a])) + " | " + number(v.ceiling[a]) + " |";
      }
      md += "\n";
    }
    return md;
  }
};

}  // namespace

FACET_REGISTER_STEP(EvaluateGenerationStep);
