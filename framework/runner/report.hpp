#pragma once

// report.html: one self-contained page per run (and one comparing several
// runs or a sweep's variants), built from run folders alone.

#include <filesystem>
#include <string>
#include <vector>

#include "run_view.hpp"

namespace facet {

/// The page of one run: outcome (and where and why it stopped), every step
/// with status, time, cache hit and key, its metrics, curves, figures and
/// tables, and the resolved pipeline.
std::string run_report_html(const RunView& run);

/// Several runs side by side: settings that differ highlighted, metrics with
/// their differences from the first run, curves overlaid. `labels` name the
/// runs (their folder names when empty).
std::string comparison_html(const std::vector<RunView>& runs, const std::vector<std::string>& labels,
                            const std::string& title);

/// Writes <run folder>/report.html.
void write_run_report(const std::filesystem::path& run_dir);

}  // namespace facet
