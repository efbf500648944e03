#include "dataset_builder.hpp"

#include <algorithm>

#include <torch/torch.h>

namespace facet::datasets {

Artifacts build_dataset(const std::vector<DatasetRow>& rows, const std::vector<std::string>& attribute_names,
                        const CropOptions& options, IndexAccount account, Context& ctx) {
  std::vector<CropItem> items;
  items.reserve(rows.size());
  for (const auto& r : rows) items.push_back(r.crop);
  auto pixels = ctx.create_rows(
      "images", "images", {static_cast<std::int64_t>(items.size()), 3, options.size, options.size}, torch::kUInt8);
  const auto result = store_crops(items, options, *pixels, ctx);
  for (const auto& [why, count] : result.dropped) account.dropped.add(why, count);

  std::vector<std::string> person_names;
  for (const auto i : result.kept) person_names.push_back(rows[static_cast<size_t>(i)].person);
  std::sort(person_names.begin(), person_names.end());
  person_names.erase(std::unique(person_names.begin(), person_names.end()), person_names.end());

  const auto n = static_cast<std::int64_t>(result.kept.size());
  const auto a = static_cast<std::int64_t>(attribute_names.size());
  auto scores = torch::empty({n, a}, torch::kFloat32);
  auto person = torch::empty({n}, torch::kInt64), image_id = torch::empty({n}, torch::kInt64);
  auto subset = torch::empty({n}, torch::kInt64);
  auto* s = scores.data_ptr<float>();
  auto *p = person.data_ptr<std::int64_t>(), *id = image_id.data_ptr<std::int64_t>(),
       *sub = subset.data_ptr<std::int64_t>();
  bool has_subset = true;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& r = rows[static_cast<size_t>(result.kept[static_cast<size_t>(i)])];
    std::copy(r.scores.begin(), r.scores.end(), s + i * a);
    p[i] = std::lower_bound(person_names.begin(), person_names.end(), r.person) - person_names.begin();
    id[i] = r.image_id;
    sub[i] = r.subset;
    has_subset = has_subset && r.subset >= 0;
  }
  report_drops(ctx, account, static_cast<size_t>(n));

  Artifact images;
  images.set("images", pixels->finish_early());
  images.set("person", person);
  images.set("image_id", image_id);
  images.set_attr("layout", std::string("NCHW RGB uint8"));
  images.set_attr("size", static_cast<std::int64_t>(options.size));
  Artifact attributes;
  attributes.set("scores", scores);
  attributes.set("person", person);
  attributes.set("image_id", image_id);
  if (has_subset) attributes.set("subset", subset);
  attributes.set_attr("attribute_names", attribute_names);
  // HDF5 keeps attributes under 64 KiB: a data set of thousands of
  // identities (CelebA) goes without the names, its person ids remain.
  size_t name_bytes = 0;
  for (const auto& name : person_names) name_bytes += name.size() + 1;
  if (name_bytes < 48 * 1024) attributes.set_attr("person_names", person_names);
  attributes.set_attr("source", account.source);
  return {{"images", images}, {"attributes", attributes}};
}

}  // namespace facet::datasets
