// pubfig: PubFig v1.2's index files and downloaded images to face crops
// labelled with the 73 attribute scores (the dataset contract of synthfaces).
#include <algorithm>
#include <random>
#include <set>

#include <opencv2/core.hpp>

#include <facet/plugin.hpp>
#include <facet/pubfig.hpp>

#include "dataset_builder.hpp"
#include "image_files.hpp"
#include "index_files.hpp"

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;
namespace datasets = facet::datasets;
namespace fs = std::filesystem;

class PubFigStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"pubfig",
            "1.0",
            "PubFig v1.2: index files joined with the attribute scores, face boxes cropped from the downloaded images",
            "dataset",
            {ParamSpec::path("root", "data/pubfig",
                             "folder with dev_urls.txt, eval_urls.txt, dev_people.txt, "
                             "eval_people.txt and the attribute file"),
             ParamSpec::path("images", "data/pubfig/images",
                             "downloaded images (pubfig_download's layout: "
                             "Person_Name/IMAGENUM.jpg)"),
             ParamSpec::text("attribute_file", "pubfig_attributes.txt", "attribute scores, inside root"),
             ParamSpec::choice("sets", "both", {"both", "dev", "eval"}, "which of PubFig's sets to load"),
             ParamSpec::integer("size", 224, "crop width and height in pixels").range(16, 1024),
             ParamSpec::real("margin", 0.15, "context around the face box, as a fraction of its longer side")
                 .range(0.0, 1.0),
             ParamSpec::integer("val_people", 6,
                                "dev persons (drawn with the seed) held out for validation; the "
                                "rest of dev trains, eval tests")
                 .range(0, 200)},
            {{"manifest", "pubfig_download's manifest: only images it fetched intact are used", true}},
            {{"images", "images [N, 3, size, size] uint8 RGB, person [N], image_id [N]"},
             {"attributes",
              "scores [N, 73] float32, person [N], image_id [N], subset [N] (0 train = dev, 1 val, "
              "2 test = eval); attribute_names, person_names"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const fs::path root = params.get_string("root");
    const fs::path images_dir = params.get_string("images");
    cv::setNumThreads(1);  // parallel over images instead

    // Index rows of the chosen sets, and who is in dev.
    std::set<std::string> dev_people;
    const auto rows = datasets::read_pubfig_sets(root, params.get_string("sets"), &dev_people);
    const fs::path attribute_path = root / params.get_string("attribute_file");
    const auto table = datasets::read_attribute_scores(attribute_path);
    const datasets::PubFigColumns columns(table, attribute_path);
    std::map<datasets::ImageKey, size_t> score_row;
    for (size_t i = 0; i < table.keys.size(); ++i) score_row.emplace(table.keys[i], i);

    std::set<std::string> downloaded_ok;  // "person\timagenum" when a manifest is connected
    const bool use_manifest = inputs.count("manifest") != 0;
    if (use_manifest) downloaded_ok = datasets::intact_downloads(inputs.at("manifest"));

    // Join: which rows have scores, a valid box and an intact download.
    datasets::DropCounter dropped;
    std::vector<datasets::DatasetRow> joined;
    const auto val_people = pick_val_people(dev_people, params.get_int("val_people"), ctx.seed());
    for (const auto& r : rows) {
      const auto it = score_row.find({r.person, r.imagenum});
      if (it == score_row.end()) {
        dropped.add("no attribute scores");
      } else if (!r.rect_parsed || !r.rect.valid()) {
        dropped.add("invalid face box");
      } else if (use_manifest && downloaded_ok.count(fmt::format("{}\t{}", r.person, r.imagenum)) == 0) {
        dropped.add("not fetched intact (see the download manifest)");
      } else {
        datasets::DatasetRow row;
        row.crop = {datasets::find_image(images_dir, r.person, r.imagenum), r.rect};
        row.person = r.person;
        row.image_id = r.imagenum;
        row.subset = dev_people.count(r.person) == 0 ? 2 : val_people.count(r.person) != 0 ? 1 : 0;
        row.scores = columns.scores(it->second);
        joined.push_back(std::move(row));
      }
    }
    ctx.info("{} index rows, {} with scores, a valid box{}", rows.size(), joined.size(),
             use_manifest ? " and an intact download" : "");
    const datasets::CropOptions options{static_cast<int>(params.get_int("size")), params.get_float("margin")};
    const std::vector<std::string> names(facet::pubfig::kAttributeNames.begin(), facet::pubfig::kAttributeNames.end());
    const std::string index = fmt::format("{} ({} of {})", attribute_path.string(),
                                          params.get_string("sets") == "both" ? "dev_urls.txt and eval_urls.txt"
                                                                              : params.get_string("sets") + "_urls.txt",
                                          root.string());
    return datasets::build_dataset(joined, names, options, {"pubfig", index, rows.size(), dropped}, ctx);
  }

 private:
  static std::set<std::string> pick_val_people(const std::set<std::string>& dev, std::int64_t count,
                                               std::uint64_t seed) {
    std::vector<std::string> order(dev.begin(), dev.end());
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    order.resize(static_cast<size_t>(std::min<std::int64_t>(count, static_cast<std::int64_t>(order.size()))));
    return {order.begin(), order.end()};
  }
};

}  // namespace

FACET_REGISTER_STEP(PubFigStep);
