# Warning flags for effi's own targets (zero warnings is the rule; EFFI_WERROR makes it binding).
function(effi_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(EFFI_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
