#include <stdio.h>
#include <torc.h>

int main(void) {
  int v = 0;
  if (torcGetVersion(&v) != torcSuccess || v != TORC_VERSION_CODE) return 1;
  printf("torc %d\n", v);
  return 0;
}
