/* showid.c - prints its effective and real uid: made setuid by the sandbox
 * tests to check that running it inside the sandbox gains nothing. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    printf("euid=%d ruid=%d\n", (int)geteuid(), (int)getuid());
    return 0;
}
