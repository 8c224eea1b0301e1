/*
 * console.c - the console's files, embedded in the binary at build time
 * (the assembler's .incbin, so the files stay plain HTML, JavaScript and
 * CSS in src/console/), and the answers that serve them.
 */
#include "console/console.h"

#include <string.h>

#include "base/str.h"

/*
 * Each file becomes the bytes between two symbols. The path is relative to
 * the directory the compiler runs in: the top of the tree, as the Makefile
 * runs it.
 */
#define EMBED(sym, file)                                                       \
    __asm__(".section .rodata\n"                                               \
            ".balign 16\n"                                                     \
            ".global " #sym "\n" #sym ":\n"                                    \
            ".incbin \"" file "\"\n"                                           \
            ".global " #sym "_end\n" #sym "_end:\n"                            \
            ".byte 0\n"                                                        \
            ".previous\n");                                                    \
    extern const char sym[], sym##_end[]

EMBED(console_index_html, "src/console/index.html");
EMBED(console_js, "src/console/console.js");
EMBED(console_sigv4_js, "src/console/sigv4.js");
EMBED(console_css, "src/console/console.css");

static const struct asset {
    const char *path; /* under /console */
    const char *ctype;
    const char *start, *end;
} assets[] = {
    {"/", "text/html; charset=utf-8", console_index_html,
     console_index_html_end},
    {"/console.js", "text/javascript; charset=utf-8", console_js,
     console_js_end},
    {"/sigv4.js", "text/javascript; charset=utf-8", console_sigv4_js,
     console_sigv4_js_end},
    {"/console.css", "text/css; charset=utf-8", console_css, console_css_end},
};

/*
 * The pages load nothing but their own files and talk to nothing but this
 * server; no other site may frame them.
 */
static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

static void plain(struct http_request *r, int status, const char *msg)
{
    http_respond(r, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

void console_answer(struct http_request *r)
{
    const char *sub = r->path + strlen("/console");

    str_copy(r->op, "Console", sizeof(r->op));
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        plain(r, 405, "The console answers GET and HEAD only.\n");
        http_response_header(r, "Allow", "GET, HEAD");
        return;
    }
    if (*sub == '\0') {
        plain(r, 301, "Moved to /console/\n");
        http_response_header(r, "Location", "/console/");
        return;
    }
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
        const struct asset *a = &assets[i];
        if (strcmp(sub, a->path) != 0)
            continue;
        http_respond(r, 200, a->ctype, a->start, (size_t)(a->end - a->start));
        http_response_header(r, "Cache-Control", "no-cache");
        http_response_header(r, "Content-Security-Policy", csp);
        http_response_header(r, "X-Content-Type-Options", "nosniff");
        http_response_header(r, "Referrer-Policy", "no-referrer");
        return;
    }
    plain(r, 404, "No such console page.\n");
}
