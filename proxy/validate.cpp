// nextprism-validate: the proxy's ForceCommand.
//
// sshd runs it for every session, with the client's command line in
// SSH_ORIGINAL_COMMAND. It splits that string by the wire grammar (no
// shell), checks it against the whitelist, writes one audit line, and then
// either prints the canonical argv (--dry-run) or runs it in the target
// container. Everything it refuses gets one stderr line and a distinct exit
// code (nextprism/proxy_exit_code.hpp). Its start-up path stays lean: it
// runs once per command.

#include <nextprism/audit_log.hpp>
#include <nextprism/command_policy.hpp>
#include <nextprism/proxy_exit_code.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

namespace exit_code = nextprism::proxy_exit_code;

constexpr std::string_view usage_text =
    "usage: nextprism-validate [--service nextcloud|photoprism] [--policy FILE]\n"
    "                          [--audit-log FILE] [--dry-run]\n"
    "       nextprism-validate --print-default-policy\n"
    "The command comes from SSH_ORIGINAL_COMMAND (set by sshd for a ForceCommand).\n"
    "Environment: NEXTPRISM_SERVICE, NEXTPRISM_POLICY, NEXTPRISM_AUDIT_LOG\n"
    "(default /var/log/nextprism/audit.log).\n";

struct options
{
    std::string service;
    std::string policy_file;
    std::string audit_log = "/var/log/nextprism/audit.log";
    bool dry_run = false;
};

[[noreturn]] void fail(int code, std::string_view what, std::string_view detail = {})
{
    std::string line = "nextprism: ";
    line += what;
    if (!detail.empty()) {
        line += ": ";
        line += detail;
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::exit(code);
}

const char* env(const char* name)
{
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

options parse_options(int argc, char** argv)
{
    options o;
    if (auto v = env("NEXTPRISM_SERVICE"))
        o.service = v;
    if (auto v = env("NEXTPRISM_POLICY"))
        o.policy_file = v;
    if (auto v = env("NEXTPRISM_AUDIT_LOG"))
        o.audit_log = v;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                fail(exit_code::usage, "usage", std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--service")
            o.service = value();
        else if (arg == "--policy")
            o.policy_file = value();
        else if (arg == "--audit-log")
            o.audit_log = value();
        else if (arg == "--dry-run")
            o.dry_run = true;
        else if (arg == "--print-default-policy") {
            std::cout << nextprism::command_policy::default_policy_json() << '\n';
            std::exit(0);
        } else if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else {
            std::cerr << usage_text;
            fail(exit_code::usage, "usage", "unknown argument " + std::string(arg));
        }
    }
    if (o.service.empty())
        fail(exit_code::usage, "usage", "no service: pass --service or set NEXTPRISM_SERVICE");
    return o;
}

nextprism::command_policy load_policy(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail(exit_code::usage, "cannot read policy file", path);
    std::stringstream text;
    text << in.rdbuf();
    nextprism::error_code ec;
    std::string reason;
    auto policy = nextprism::command_policy::from_json(text.str(), ec, reason);
    if (ec)
        fail(exit_code::usage, "invalid policy file " + path, reason);
    return policy;
}

} // namespace

int main(int argc, char** argv)
{
    const options opts = parse_options(argc, argv);

    nextprism::command_policy loaded;
    const nextprism::command_policy* policy = &nextprism::command_policy::default_policy();
    if (!opts.policy_file.empty()) {
        loaded = load_policy(opts.policy_file);
        policy = &loaded;
    }
    if (!policy->find_service(opts.service))
        fail(exit_code::usage, "usage", "service '" + opts.service + "' is not in the policy");

    // Nothing runs unless its decision is on record.
    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open(opts.audit_log, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot open audit log " + opts.audit_log, ec.message());

    const char* original = std::getenv("SSH_ORIGINAL_COMMAND");
    const std::string input = original ? original : "";
    const char* ssh_client = env("SSH_CLIENT");
    const std::string key = nextprism::read_ssh_user_auth_key(env("SSH_USER_AUTH"));

    nextprism::decision d;
    if (!original) {
        d.ec = nextprism::error::empty_command;
        d.reason = "no command given (interactive sessions are not offered)";
    } else {
        d = policy->check_command(opts.service, input);
    }

    nextprism::audit_record record;
    record.service = opts.service;
    record.decision = d ? "allowed" : "refused";
    record.argv = d.argv;
    record.input = input;
    record.reason = d.reason;
    record.ssh_client = ssh_client ? ssh_client : "";
    record.ssh_key = key;
    log.write(record, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot write audit log " + opts.audit_log, ec.message());

    if (!d)
        fail(exit_code::refused, "refused", d.reason);

    if (opts.dry_run) {
        std::cout << nlohmann::json(d.argv).dump() << '\n';
        return 0;
    }
    fail(exit_code::internal, "execution is not available in this build",
         "run with --dry-run (the Docker transport comes with the direct transport)");
}
