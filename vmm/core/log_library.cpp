// spdlog and fmt compiled into the VMM, instead of loaded from their shared
// libraries. Loading libspdlog, libfmt (and the libstdc++ they need, which
// then cannot be linked statically) costs every vmm start ~3 ms before
// main() on a PVM host, where each page the loader relocates is a 20-40 us
// fault; recovery time counts from exec. The code is the packages' own:
// built with SPDLOG_COMPILED_LIB, spdlog's headers leave its implementation
// to its -inl.h files, compiled here once, and fmt's to format-inl.h. The
// explicit instantiations are those of the templates the VMM uses; the
// linker names any that would be missing.
#include <fmt/format-inl.h>
#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/spdlog-inl.h>

template class spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stderr_sink<spdlog::details::console_mutex>;

FMT_BEGIN_NAMESPACE
namespace detail {
template auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl(locale_ref) -> char;
}  // namespace detail
FMT_END_NAMESPACE
