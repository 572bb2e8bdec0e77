#ifndef NEXTPRISM_PROXY_EXIT_CODE_HPP
#define NEXTPRISM_PROXY_EXIT_CODE_HPP

namespace nextprism {

/** The exit codes of `nextprism-validate`, the proxy's contract with callers.

    A command that ran exits with its own status, which the proxy passes on
    unchanged; the codes below are those of the proxy itself. They sit in a
    range the whitelisted CLIs do not use (occ and photoprism exit 0, 1 or 2),
    and each comes with one stderr line starting with "nextprism: ".
*/
namespace proxy_exit_code {

inline constexpr int usage = 64;          ///< the proxy is misconfigured (service, policy file)
inline constexpr int refused = 65;        ///< the command is not on the whitelist
inline constexpr int busy = 66;           ///< a single-flight command already runs
inline constexpr int target_missing = 69; ///< no running target container
inline constexpr int internal = 70;       ///< a bug or an unexpected failure
inline constexpr int audit_failed = 74;   ///< the audit log cannot be written: nothing ran
inline constexpr int engine_error = 75;   ///< the Docker engine failed or is unreachable
inline constexpr int timeout = 124;       ///< the command exceeded its deadline and was stopped

} // namespace proxy_exit_code
} // namespace nextprism

#endif
