/*
 * console.h - the web console: static browser code that kiln serves at
 * /console/ from its own binary.
 *
 * The console holds no session and no data of its own. Its pages are the
 * same for everyone and need no signature; every call the browser then
 * makes (SageMaker, STS, CloudWatch Logs, Cost Explorer, InvokeEndpoint)
 * is signed with SigV4 in the browser, with the key the user typed, and
 * goes through the same front door, checks and handlers as any SDK's. So
 * the console can do nothing that the key cannot. Any thread.
 */
#ifndef KILN_CONSOLE_CONSOLE_H
#define KILN_CONSOLE_CONSOLE_H

#include "http/request.h"

/*
 * Answers a request for "/console" or a path under "/console/": GET and
 * HEAD of a console file, a redirect from "/console" to "/console/", 404
 * for any other path and 405 for any other method.
 */
void console_answer(struct http_request *r);

#endif
