#include "dataset_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <facet/errors.hpp>
#include <facet/markdown.hpp>

#include "downloader.hpp"

namespace facet::datasets {

void report_drops(Context& ctx, const IndexAccount& account, size_t kept) {
  if (account.rows == 0) throw Error(fmt::format("{}: no index rows; is it the right file?", account.index));
  std::string md = fmt::format("# {}: {} of {} index rows kept\n\n| dropped because | rows |\n|---|---:|\n",
                               ctx.step_id(), kept, account.rows);
  std::vector<std::string> reasons;
  for (const auto& [why, count] : account.dropped.counts()) {
    md += fmt::format("| {} | {} |\n", facet::markdown_cell(why), count);
    reasons.push_back(fmt::format("{}: {}", why, count));
    ctx.warn("{} rows dropped: {}", count, why);
  }
  if (kept == 0) {
    throw Error(fmt::format("{}: none of its {} index rows gave a usable image ({})", account.index, account.rows,
                            fmt::join(reasons, "; ")));
  }
  ctx.save_file("load_report.md", md);
  ctx.metric("rows", static_cast<double>(account.rows));
  ctx.metric("images", static_cast<double>(kept));
  ctx.metric("dropped", static_cast<double>(account.rows - kept));
}

std::set<std::string> intact_downloads(const Artifact& manifest) {
  const auto people = manifest.attr_strings("person_names");
  const auto person = manifest.get("person").to(torch::kInt64).contiguous();
  const auto imagenum = manifest.get("image_id").to(torch::kInt64).contiguous();
  const auto status = manifest.get("status").to(torch::kInt64).contiguous();
  const auto p = person.accessor<std::int64_t, 1>(), n = imagenum.accessor<std::int64_t, 1>();
  const auto s = status.accessor<std::int64_t, 1>();
  std::set<std::string> ok;
  for (std::int64_t i = 0; i < status.size(0); ++i) {
    const auto outcome = static_cast<DownloadStatus>(s[i]);
    if (outcome == DownloadStatus::Ok || outcome == DownloadStatus::Present) {
      ok.insert(fmt::format("{}\t{}", people.at(static_cast<size_t>(p[i])), n[i]));
    }
  }
  return ok;
}

}  // namespace facet::datasets
