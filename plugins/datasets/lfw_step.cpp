// lfw: LFW's attribute scores (lfw_attributes.txt, PubFig's 73 attributes and
// format), faces centre-cropped from LFW's 250 x 250 images.

#include <opencv2/core.hpp>

#include <facet/plugin.hpp>
#include <facet/pubfig.hpp>

#include "dataset_builder.hpp"
#include "index_files.hpp"

namespace {

using facet::Artifacts;
using facet::ParamSpec;
namespace datasets = facet::datasets;
namespace fs = std::filesystem;

class LfwStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"lfw",
            "1.0",
            "LFW: PubFig's 73 attribute scores for LFW's images (lfw_attributes.txt), centre-cropped faces",
            "dataset",
            {ParamSpec::path("attributes", "data/lfw/lfw_attributes.txt", "LFW's attribute file"),
             ParamSpec::path("images", "data/lfw/lfw", "LFW's image folder (Name/Name_0001.jpg)"),
             ParamSpec::int_list("box", {68, 68, 182, 182}, "the face box x0, y0, x1, y1 in every 250 x 250 image"),
             ParamSpec::integer("size", 224, "crop width and height in pixels").range(16, 1024),
             ParamSpec::real("margin", 0.0, "context around the box, as a fraction of its side").range(0.0, 1.0)},
            {},
            {{"images", "images [N, 3, size, size] uint8 RGB, person [N], image_id [N]"},
             {"attributes", "scores [N, 73] float32, person [N], image_id [N]; attribute_names, person_names"}}};
  }

  Artifacts run(const Artifacts&, const facet::Params& params, facet::Context& ctx) override {
    const fs::path file = params.get_string("attributes"), images = params.get_string("images");
    const auto& b = params.get_int_list("box");
    if (b.size() != 4) throw facet::Error(fmt::format("lfw: box needs 4 numbers x0, y0, x1, y1, got {}", b.size()));
    const datasets::Rect box{static_cast<int>(b[0]), static_cast<int>(b[1]), static_cast<int>(b[2]),
                             static_cast<int>(b[3])};
    if (!box.valid()) throw facet::Error("lfw: box must have x1 > x0 and y1 > y0");
    cv::setNumThreads(1);
    const auto table = datasets::read_attribute_scores(file);
    const datasets::PubFigColumns columns(table, file);
    std::vector<datasets::DatasetRow> rows;
    for (size_t r = 0; r < table.keys.size(); ++r) {
      const auto& [person, imagenum] = table.keys[r];
      std::string folder = person;
      std::replace(folder.begin(), folder.end(), ' ', '_');
      const fs::path path = images / folder / fmt::format("{}_{:04d}.jpg", folder, imagenum);
      datasets::DatasetRow row;
      row.crop = {fs::exists(path) ? path : fs::path(), box};
      row.person = person;
      row.image_id = imagenum;
      row.scores = columns.scores(r);
      rows.push_back(std::move(row));
    }
    const datasets::CropOptions options{static_cast<int>(params.get_int("size")), params.get_float("margin")};
    const std::vector<std::string> names(facet::pubfig::kAttributeNames.begin(), facet::pubfig::kAttributeNames.end());
    return datasets::build_dataset(rows, names, options, {"lfw", file.string(), table.keys.size(), {}}, ctx);
  }
};

}  // namespace

FACET_REGISTER_STEP(LfwStep);
