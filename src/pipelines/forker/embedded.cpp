// The bytes of skiff-task-forker (forker/main.cpp, built by src/CMakeLists.txt), embedded by the
// assembler: SKIFF_TASK_FORKER is the program's path.

#include <cstddef>
#include <string_view>

asm(".section .rodata.skiff_task_forker,\"a\"\n"
    ".balign 16\n"
    ".globl skiff_task_forker_begin\n"
    ".hidden skiff_task_forker_begin\n"
    "skiff_task_forker_begin:\n"
    ".incbin \"" SKIFF_TASK_FORKER
    "\"\n"
    ".globl skiff_task_forker_end\n"
    ".hidden skiff_task_forker_end\n"
    "skiff_task_forker_end:\n"
    ".previous\n");

extern "C" const char skiff_task_forker_begin[];
extern "C" const char skiff_task_forker_end[];

namespace skiff::pipelines::embedded {

std::string_view TaskForkerProgram() {
  return {skiff_task_forker_begin,
          static_cast<size_t>(skiff_task_forker_end - skiff_task_forker_begin)};
}

}  // namespace skiff::pipelines::embedded
