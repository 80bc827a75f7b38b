// The Prometheus text exposition format (version 0.0.4) of a Board snapshot:
// what GET /metrics serves. Every metric is named fsd_*, documented by its
// HELP line and listed in docs/DEPLOYING.md ("Watching a federation").
// Exits are labelled from 1 (shallow) as everywhere a user sees them.
#pragma once

#include <string>

#include "monitor/board.h"

namespace fsd::monitor {

// The content type GET /metrics answers with.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string RenderPrometheus(const Snapshot& snapshot);

}  // namespace fsd::monitor
