// The status page GET / serves: monitor/status_page.html, compiled in at
// build time (CMake configure_file), so the binary needs no files beside it.
#pragma once

namespace fsd::monitor {

extern const char kStatusPage[];

}  // namespace fsd::monitor
