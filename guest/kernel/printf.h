// printf-style formatter: %[-][0][width][l|ll|z]{d,i,u,x,X,p,s,c,%}.
#pragma once
#include <stdarg.h>

#include "kernel/types.h"

// Formats into buf (always NUL-terminated if size > 0); returns the length
// the full output would have had.
int vformat(char* buf, size_t size, const char* fmt, va_list ap);

// Same as vformat with a variable argument list.
int format(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
