// skiff-task-forker: the small static program skiff runs as its task forker
// (pipelines/task_child.hpp). It maps next to nothing, so cloning each task's init from it costs
// the kernel little. skiff starts it from a memfd holding these bytes (forker/embedded.cpp),
// with /dev/null as descriptor 0, the socket to the launcher as 3 and the memfd of the plans'
// shared mapping as 4; it is not meant to be run by hand.

#include <sys/mman.h>
#include <unistd.h>

#include "pipelines/task_child.hpp"

int main() {
  using namespace skiff::pipelines::task_child;
  void* shared = ::mmap(nullptr, kPlanCapacity, PROT_READ, MAP_SHARED, 4, 0);
  if (shared == MAP_FAILED) return 1;
  ::close(4);
  // skiff asked for the death signal before the exec, which keeps it.
  RunForker(3, 0, static_cast<const char*>(shared), ::getppid());
}
