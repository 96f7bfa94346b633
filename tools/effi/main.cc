// effi command-line tool: parses the command line (CLI11), runs one subcommand and maps every
// failure to a single "effi: error: ..." line on stderr and an exit code (0 ok, 1 failure, 2
// usage).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "common.h"
#include "effi/effi.hpp"
#include "kernels/isa.h"
#include "util/text.h"

namespace {

// Longest message printed: a safety net for messages that quote a whole (hostile) value.
constexpr size_t kMaxErrorBytes = 2000;

int PrintError(std::string message, int code) {
  // CLI11's own messages may span lines: joined with spaces. Any other control character (ESC,
  // NUL, from a model's names or metadata) is escaped so nothing reaches the terminal raw.
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  message = effi::util::EscapeControl(message, kMaxErrorBytes);
  while (!message.empty() && message.back() == ' ') message.pop_back();
  std::cout.flush();
  std::cerr << "effi: error: " << message << std::endl;
  return code;
}

int Main(int argc, char** argv) {
  using namespace effi::cli;
  CLI::App app{"effi: EfficientFormer inference engine and tools", "effi"};
  app.formatter(std::make_shared<HelpFormatter>());
  app.get_formatter()->column_width(32);
  app.set_version_flag("--version", std::string("effi ") + effi::Version(), "print the version");
  std::vector<Command> commands;
  commands.push_back(AddClassifyCommand(app));
  commands.push_back(AddRunCommand(app));
  commands.push_back(AddInspectCommand(app));
  commands.push_back(AddBenchCommand(app));
  commands.push_back(AddEvalCommand(app));
  commands.push_back(AddQuantizeCommand(app));
  app.footer("Run 'effi COMMAND --help' for a command's options.");

  // `effi` alone is a request for orientation, not a mistake: the help on stdout, exit 0 (as
  // docker, cargo and kubectl do; git's exit 1 makes `effi | less` report a failure).
  if (argc <= 1) {
    std::cout << app.help() << std::flush;
    return kExitOk;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version: printed to stdout, exit 0
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    // At the top level an extra word is a mistyped command name.
    const std::vector<std::string> extras = app.remaining();
    if (!extras.empty() && !extras[0].empty() && extras[0][0] != '-' &&
        std::none_of(commands.begin(), commands.end(),
                     [](const Command& c) { return c.app->parsed(); })) {
      std::string names;
      for (const Command& c : commands) names += (names.empty() ? "" : ", ") + c.app->get_name();
      return PrintError("unknown command '" + extras[0] + "' (commands: " + names + ")",
                        kExitUsage);
    }
    std::string where = "effi";
    for (const Command& c : commands)
      if (c.app->parsed()) where += " " + c.app->get_name();
    return PrintError(std::string(e.what()) + " (see '" + where + " --help')", kExitUsage);
  } catch (const CLI::ParseError& e) {
    std::string where = "effi";
    for (const Command& c : commands)
      if (c.app->parsed()) where += " " + c.app->get_name();
    return PrintError(std::string(e.what()) + " (see '" + where + " --help')", kExitUsage);
  }
  for (const Command& c : commands) {
    if (!c.app->parsed()) continue;
    // A bad EFFI_MAX_ISA / EFFI_KERNELS fails before the command prints anything (the library
    // checks again at Model::Load, for its other callers).
    effi::kernels::CheckEnvironment();
    return c.run();
  }
  return PrintError("no command given (see 'effi --help')", kExitUsage);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const effi::cli::UsageError& e) {
    return PrintError(e.what(), effi::cli::kExitUsage);
  } catch (const effi::Error& e) {
    return PrintError(e.what(), effi::cli::kExitFailure);
  } catch (const std::bad_alloc&) {
    return PrintError("out of memory", effi::cli::kExitFailure);
  } catch (const std::exception& e) {
    return PrintError(std::string("internal error: ") + e.what(), effi::cli::kExitFailure);
  } catch (...) {
    return PrintError("internal error: unknown exception", effi::cli::kExitFailure);
  }
}
