# Compile options of the test programs (included by the directories that add them, so it applies
# to their targets and not to the libraries they test).
#
# Test sources are compiled at -O1 whatever the build type's level: the code under test (src/)
# keeps -O3 (Release) or -O2 (the sanitizer presets), while the tests' own code, mostly GoogleTest
# macros, JSON and string handling, gains little from more. At -O3 the test files were 60 % of
# the Release build's compile time (cli_test.cc 33 s of CPU, 20 s at -O1); CI compiles them in
# four builds. Debug builds keep -O0.
add_compile_options($<$<NOT:$<CONFIG:Debug>>:-O1>)
