// pubfig_download: fetches PubFig's images (a polite, resumable, verifying
// downloader) and records what became of every one of them.
#include <algorithm>
#include <set>

#include <facet/files.hpp>
#include <facet/plugin.hpp>

#include "downloader.hpp"
#include "image_files.hpp"
#include "index_files.hpp"

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;
namespace datasets = facet::datasets;
namespace fs = std::filesystem;

class PubFigDownloadStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"pubfig_download",
            "1.0",
            "Downloads PubFig's images: parallel, polite, resumable, MD5-verified; a manifest says what became of each",
            "download",
            {ParamSpec::path("root", "data/pubfig", "folder with dev_urls.txt and eval_urls.txt"),
             ParamSpec::text("images", "data/pubfig/images",
                             "where images go (Person_Name/IMAGENUM.jpg); "
                             "changed images go to _changed/"),
             ParamSpec::choice("sets", "both", {"both", "dev", "eval"}, "which of PubFig's sets to fetch"),
             ParamSpec::integer("connections", 16, "transfers in flight at once").range(1, 256),
             ParamSpec::integer("per_host", 2, "transfers in flight per host (politeness)").range(1, 64),
             ParamSpec::real("timeout", 30.0, "seconds allowed for one request, body included").range(0.1, 3600.0),
             ParamSpec::real("connect_timeout", 10.0, "seconds allowed to connect").range(0.1, 600.0),
             ParamSpec::integer("retries", 3, "further attempts after a timeout, a dropped connection or HTTP 5xx")
                 .range(0, 20),
             ParamSpec::real("backoff", 1.0, "seconds before the first retry, doubled for each next one")
                 .range(0.0, 600.0)},
            {},
            {{"manifest",
              "person [N], image_id [N], status [N] (index into status_names), http [N], bytes [N]; "
              "person_names, status_names"}}};
  }

  Artifacts run(const Artifacts&, const facet::Params& params, facet::Context& ctx) override {
    const fs::path root = params.get_string("root");
    datasets::DownloadOptions options;
    options.root = params.get_string("images");
    options.connections = static_cast<int>(params.get_int("connections"));
    options.per_host = static_cast<int>(params.get_int("per_host"));
    options.timeout_s = params.get_float("timeout");
    options.connect_timeout_s = params.get_float("connect_timeout");
    options.retries = static_cast<int>(params.get_int("retries"));
    options.backoff_s = params.get_float("backoff");

    const auto rows = datasets::read_pubfig_sets(root, params.get_string("sets"));
    std::vector<datasets::DownloadJob> jobs;
    for (const auto& r : rows) jobs.push_back({r.person, r.imagenum, r.url, r.md5, !r.rect_parsed || !r.rect.valid()});

    auto progress = ctx.progress("downloading", static_cast<std::int64_t>(jobs.size()), "images");
    const auto outcomes = datasets::download_all(
        jobs, options, [&] { progress->advance(); }, [&] { return ctx.cancelled(); });
    ctx.check_cancelled();
    return {{"manifest", manifest(rows, outcomes, options.root, ctx)}};
  }

 private:
  static Artifact manifest(const std::vector<datasets::UrlRow>& rows,
                           const std::vector<datasets::DownloadOutcome>& outcomes, const fs::path& images,
                           facet::Context& ctx) {
    std::set<std::string> unique;
    for (const auto& r : rows) unique.insert(r.person);
    const std::vector<std::string> people(unique.begin(), unique.end());
    const auto n = static_cast<std::int64_t>(rows.size());
    auto person = torch::empty({n}, torch::kInt64), image_id = torch::empty({n}, torch::kInt64);
    auto status = torch::empty({n}, torch::kInt64), http = torch::empty({n}, torch::kInt64);
    auto bytes = torch::empty({n}, torch::kInt64);
    std::vector<std::int64_t> counts(datasets::kDownloadStatusCount, 0);
    std::string tsv = "person\timagenum\tstatus\tdetail\thttp\tbytes\tattempts\turl\n";
    for (std::int64_t i = 0; i < n; ++i) {
      const auto& r = rows[static_cast<size_t>(i)];
      const auto& o = outcomes[static_cast<size_t>(i)];
      person[i] = std::lower_bound(people.begin(), people.end(), r.person) - people.begin();
      image_id[i] = r.imagenum;
      status[i] = static_cast<std::int64_t>(o.status);
      http[i] = static_cast<std::int64_t>(o.http_code);
      bytes[i] = o.bytes;
      ++counts[static_cast<size_t>(o.status)];
      tsv += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", r.person, r.imagenum, datasets::status_name(o.status),
                         o.detail, o.http_code, o.bytes, o.attempts, r.url);
    }
    std::string summary;
    for (int s = 0; s < datasets::kDownloadStatusCount; ++s) {
      const char* name = datasets::status_name(static_cast<datasets::DownloadStatus>(s));
      std::string metric = fmt::format("images_{}", name);
      std::replace(metric.begin(), metric.end(), ' ', '_');
      ctx.metric(metric, static_cast<double>(counts[static_cast<size_t>(s)]));
      summary += fmt::format("{}{} {}", s == 0 ? "" : ", ", counts[static_cast<size_t>(s)], name);
    }
    ctx.info("{} images: {}", n, summary);
    ctx.save_file("manifest.tsv", tsv);
    fs::create_directories(images);
    facet::write_file(images / "manifest.tsv", tsv);

    Artifact out;
    out.set("person", person);
    out.set("image_id", image_id);
    out.set("status", status);
    out.set("http", http);
    out.set("bytes", bytes);
    out.set_attr("person_names", people);
    out.set_attr("status_names", datasets::status_names());
    return out;
  }
};

}  // namespace

FACET_REGISTER_STEP(PubFigDownloadStep);
