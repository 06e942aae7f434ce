/* Unbounded string functions are banned in labloop: include this last in a
 * .c file and any use fails to compile. Use snprintf, memcpy with a checked
 * length, or strtok_r. (The idea comes from git's banned.h.) */
#ifndef LAB_BANNED_H
#define LAB_BANNED_H
#define BANNED(func) sorry_##func##_is_banned_in_labloop
#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)
#endif
