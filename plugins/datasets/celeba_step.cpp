// celeba: CelebA's 40 binary attributes (+1/-1) and its own train/val/test
// partition, faces cropped from the in-the-wild images by the published boxes
// or centre-cropped from the aligned ones.
#include <cmath>

#include <opencv2/core.hpp>

#include <facet/plugin.hpp>

#include "dataset_builder.hpp"
#include "index_files.hpp"

namespace {

using facet::Artifacts;
using facet::ParamSpec;
namespace datasets = facet::datasets;
namespace fs = std::filesystem;

/// The square most face-attribute work crops from CelebA's 178 x 218 aligned images.
constexpr datasets::Rect kAlignedFace{0, 20, 178, 198};

class CelebAStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {
        "celeba",
        "1.0",
        "CelebA: 40 binary attributes and the published partition; faces by box (in the wild) or aligned crops",
        "dataset",
        {ParamSpec::path("root", "data/celeba",
                         "folder with list_attr_celeba.txt, list_eval_partition.txt, "
                         "list_bbox_celeba.txt (and identity_CelebA.txt if you have it)"),
         ParamSpec::path("images", "data/celeba/img_align_celeba", "the image folder (img_align_celeba or img_celeba)"),
         ParamSpec::flag("aligned", true,
                         "aligned images: centre crop (0,20)-(178,198); otherwise crop by "
                         "list_bbox_celeba.txt"),
         ParamSpec::integer("size", 224, "crop width and height in pixels").range(16, 1024),
         ParamSpec::real("margin", 0.0, "context around the face box, as a fraction of its longer side")
             .range(0.0, 1.0)},
        {},
        {{"images", "images [N, 3, size, size] uint8 RGB, person [N], image_id [N]"},
         {"attributes",
          "scores [N, 40] float32 (+1 / -1), person [N] (identity when identity_CelebA.txt is "
          "present, else one per image), image_id [N], subset [N]; attribute_names"}}};
  }

  Artifacts run(const Artifacts&, const facet::Params& params, facet::Context& ctx) override {
    const fs::path root = params.get_string("root"), images = params.get_string("images");
    const bool aligned = params.get_bool("aligned");
    cv::setNumThreads(1);
    const auto table = datasets::read_celeba_attributes(root / "list_attr_celeba.txt");
    const auto partition = datasets::read_celeba_partition(root / "list_eval_partition.txt");
    std::map<std::string, datasets::Rect> boxes;
    if (!aligned) boxes = datasets::read_celeba_boxes(root / "list_bbox_celeba.txt");
    std::map<std::string, std::string> identity;
    if (fs::exists(root / "identity_CelebA.txt"))
      identity = datasets::read_celeba_identities(root / "identity_CelebA.txt");

    datasets::DropCounter dropped;
    std::vector<datasets::DatasetRow> rows;
    const size_t a = table.names.size();
    for (size_t i = 0; i < table.files.size(); ++i) {
      const auto& file = table.files[i];
      const auto part = partition.find(file);
      const auto box = aligned ? boxes.end() : boxes.find(file);
      if (part == partition.end()) {
        dropped.add("not in list_eval_partition.txt");
      } else if (!aligned && (box == boxes.end() || !box->second.valid())) {
        dropped.add("no valid box in list_bbox_celeba.txt");
      } else {
        datasets::DatasetRow row;
        const fs::path path = images / file;
        row.crop = {fs::exists(path) ? path : fs::path(), aligned ? kAlignedFace : box->second};
        const auto who = identity.find(file);
        row.person = who != identity.end() ? who->second : file;
        row.image_id = static_cast<std::int64_t>(i + 1);
        row.subset = part->second;
        row.scores.assign(table.scores.begin() + static_cast<std::ptrdiff_t>(i * a),
                          table.scores.begin() + static_cast<std::ptrdiff_t>((i + 1) * a));
        rows.push_back(std::move(row));
      }
    }
    const datasets::CropOptions options{static_cast<int>(params.get_int("size")), params.get_float("margin")};
    return datasets::build_dataset(rows, table.names, options,
                                   {"celeba", (root / "list_attr_celeba.txt").string(), table.files.size(), dropped},
                                   ctx);
  }
};

}  // namespace

FACET_REGISTER_STEP(CelebAStep);
