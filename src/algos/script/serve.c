/*
 * serve.c - script-mode models on embedded CPython (see serve.h).
 */
#include "algos/script/serve.h"

/* Python.h after kiln's header: with _GNU_SOURCE set for every file, the
 * feature macros Python defines are already the same. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"

/* Everything below is touched with the GIL held. */
static struct {
    PyObject *model;
    PyObject *input_fn, *predict_fn, *output_fn, *transform_fn;
    PyObject *np, *io, *json;
    PyThreadState *main;
    char default_accept[128];
} py;

/* The pending exception's last line, "Type: message", into msg; the
 * traceback goes to stderr (the endpoint's log). The exception is cleared. */
static void exception_text(char *msg, size_t size)
{
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *name = type ? PyObject_GetAttrString(type, "__name__") : NULL;
    PyObject *text = value ? PyObject_Str(value) : NULL;
    const char *n = name ? PyUnicode_AsUTF8(name) : NULL;
    const char *t = text ? PyUnicode_AsUTF8(text) : NULL;
    if (n && t && *t)
        snprintf(msg, size, "%s: %s", n, t);
    else
        snprintf(msg, size, "%s", n ? n : "unknown Python error");
    Py_XDECREF(name);
    Py_XDECREF(text);
    PyErr_Clear();
    /* Displayed, not raised again: a SystemExit must not end the server. */
    if (type)
        PyErr_Display(type, value, tb);
    PyErr_Clear();
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static PyObject *attr_or_null(PyObject *module, const char *name)
{
    PyObject *f = PyObject_GetAttrString(module, name);
    if (!f)
        PyErr_Clear();
    else if (!PyCallable_Check(f))
        Py_CLEAR(f);
    return f;
}

int script_model_load(const char *code_dir, const char *program,
                      const char *model_dir, const char *default_accept,
                      struct kiln_diag *d)
{
    char module_name[256], msg[1024];
    PyConfig config;
    PyStatus st;
    PyObject *path, *dir, *module = NULL, *model_fn = NULL;
    int rc = 0;

    str_copy(module_name, program, sizeof(module_name));
    if (str_ends(module_name, ".py"))
        module_name[strlen(module_name) - 3] = '\0';
    str_copy(py.default_accept,
             default_accept && *default_accept ? default_accept
                                               : "application/json",
             sizeof(py.default_accept));

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0; /* SIGTERM stays kiln's */
    config.parse_argv = 0;
    st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        return diag_set(d, KILN_EIO, "cannot start Python: %s",
                        st.err_msg ? st.err_msg : "unknown error");

    path = PySys_GetObject("path"); /* borrowed */
    dir = PyUnicode_FromString(code_dir);
    if (!path || !dir || PyList_Insert(path, 0, dir) != 0)
        goto py_error;
    py.np = PyImport_ImportModule("numpy");
    py.io = py.np ? PyImport_ImportModule("io") : NULL;
    py.json = py.io ? PyImport_ImportModule("json") : NULL;
    if (!py.json)
        goto py_error;
    module = PyImport_ImportModule(module_name);
    if (!module)
        goto py_error;
    model_fn = attr_or_null(module, "model_fn");
    if (!model_fn) {
        rc = diag_set(d, KILN_EINVAL,
                      "%s has no model_fn: please provide a model_fn "
                      "implementation (model_fn(model_dir) returns the model "
                      "predict_fn uses)",
                      program);
        goto out;
    }
    py.model = PyObject_CallFunction(model_fn, "s", model_dir);
    if (!py.model)
        goto py_error;
    py.input_fn = attr_or_null(module, "input_fn");
    py.predict_fn = attr_or_null(module, "predict_fn");
    py.output_fn = attr_or_null(module, "output_fn");
    py.transform_fn = attr_or_null(module, "transform_fn");
    goto out;
py_error:
    exception_text(msg, sizeof(msg));
    rc = diag_set(d, KILN_EINVAL, "%s", msg);
out:
    Py_XDECREF(dir);
    Py_XDECREF(module);
    Py_XDECREF(model_fn);
    /* The request threads take the GIL as they need it. */
    py.main = PyEval_SaveThread();
    return rc;
}

void script_model_stop(void)
{
    if (py.main)
        PyEval_RestoreThread(py.main);
    py.main = NULL;
}

/* ---- the toolkit's defaults ------------------------------------------ */

/* The media type without parameters, lower-cased, into out. */
static void base_type(const char *type, char *out, size_t size)
{
    size_t i = 0;
    while (type && *type == ' ')
        type++;
    for (; type && type[i] && !strchr("; ,", type[i]) && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)type[i]);
    out[i] = '\0';
}

static bool is_text(const char *type)
{
    return strcmp(type, "application/json") == 0 ||
           strcmp(type, "text/csv") == 0;
}

/* Calls module.name(arg, **{key: value}). */
static PyObject *call_kw(PyObject *module, const char *name, PyObject *arg,
                         const char *key, PyObject *value)
{
    PyObject *f = PyObject_GetAttrString(module, name);
    PyObject *args = f ? PyTuple_Pack(1, arg) : NULL;
    PyObject *kw = args ? PyDict_New() : NULL;
    PyObject *r = NULL;
    if (kw && (!key || PyDict_SetItemString(kw, key, value) == 0))
        r = PyObject_Call(f, args, kw);
    Py_XDECREF(f);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    return r;
}

/* Sets *status 415 and returns NULL for an unknown type. */
static PyObject *default_input(PyObject *body, const char *type, int *status)
{
    PyObject *arr = NULL, *stream;

    if (strcmp(type, "application/json") == 0) {
        PyObject *v = PyObject_CallMethod(py.json, "loads", "O", body);
        arr = v ? PyObject_CallMethod(py.np, "array", "O", v) : NULL;
        Py_XDECREF(v);
    } else if (strcmp(type, "text/csv") == 0) {
        PyObject *comma = PyUnicode_FromString(",");
        stream = PyObject_CallMethod(py.io, "StringIO", "O", body);
        arr = stream && comma
                  ? call_kw(py.np, "genfromtxt", stream, "delimiter", comma)
                  : NULL;
        Py_XDECREF(stream);
        Py_XDECREF(comma);
    } else if (strcmp(type, "application/x-npy") == 0) {
        stream = PyObject_CallMethod(py.io, "BytesIO", "O", body);
        arr = stream ? call_kw(py.np, "load", stream, "allow_pickle", Py_False)
                     : NULL;
        Py_XDECREF(stream);
        return arr;
    } else {
        *status = 415;
        return NULL;
    }
    if (arr) {
        PyObject *f32 = PyObject_CallMethod(arr, "astype", "s", "float32");
        Py_DECREF(arr);
        arr = f32;
    }
    return arr;
}

/* Sets *status 406 and returns NULL for an unknown type. */
static PyObject *default_output(PyObject *pred, const char *type, int *status)
{
    PyObject *stream, *r = NULL, *list = NULL;

    if (strcmp(type, "application/json") == 0) {
        if (PyObject_HasAttrString(pred, "tolist")) {
            list = PyObject_CallMethod(pred, "tolist", NULL);
        } else {
            Py_INCREF(pred);
            list = pred;
        }
        r = list ? PyObject_CallMethod(py.json, "dumps", "O", list) : NULL;
        Py_XDECREF(list);
        return r;
    }
    if (strcmp(type, "text/csv") == 0) {
        stream = PyObject_CallMethod(py.io, "StringIO", NULL);
        PyObject *f = PyObject_GetAttrString(py.np, "savetxt");
        PyObject *args =
            f && stream ? Py_BuildValue("(OO)", stream, pred) : NULL;
        PyObject *kw =
            args ? Py_BuildValue("{s:s,s:s}", "delimiter", ",", "fmt", "%s")
                 : NULL;
        PyObject *done = kw ? PyObject_Call(f, args, kw) : NULL;
        r = done ? PyObject_CallMethod(stream, "getvalue", NULL) : NULL;
        Py_XDECREF(done);
        Py_XDECREF(kw);
        Py_XDECREF(args);
        Py_XDECREF(f);
        Py_XDECREF(stream);
        return r;
    }
    if (strcmp(type, "application/x-npy") == 0) {
        stream = PyObject_CallMethod(py.io, "BytesIO", NULL);
        PyObject *done =
            stream ? PyObject_CallMethod(py.np, "save", "OO", stream, pred)
                   : NULL;
        r = done ? PyObject_CallMethod(stream, "getvalue", NULL) : NULL;
        Py_XDECREF(done);
        Py_XDECREF(stream);
        return r;
    }
    *status = 406;
    return NULL;
}

/* A user function's result: bytes, str, or (body, content_type). */
static int take_result(PyObject *r, struct buf *out, char *type, size_t size)
{
    PyObject *body = r;
    if (PyTuple_Check(r) && PyTuple_Size(r) == 2) {
        body = PyTuple_GetItem(r, 0);
        PyObject *t = PyTuple_GetItem(r, 1);
        if (t && PyUnicode_Check(t))
            str_copy(type, PyUnicode_AsUTF8(t), size);
    }
    if (PyBytes_Check(body)) {
        buf_add(out, PyBytes_AsString(body), (size_t)PyBytes_Size(body));
        return 0;
    }
    if (PyUnicode_Check(body)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(body, &n);
        if (s) {
            buf_add(out, s, (size_t)n);
            return 0;
        }
        return -1;
    }
    PyErr_Format(PyExc_TypeError,
                 "the model's answer must be bytes or str, not %s",
                 Py_TYPE(body)->tp_name);
    return -1;
}

/* The Accept to answer: its first media type without a wildcard, else the
 * default. */
static void pick_accept(const char *accept, const char *def, char *out,
                        size_t size)
{
    const char *p = accept;
    while (p && *p) {
        char one[128];
        base_type(p, one, sizeof(one));
        if (*one && !strchr(one, '*')) {
            str_copy(out, one, size);
            return;
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    str_copy(out, def, size);
}

void script_negotiate(const char *content_type, const char *accept,
                      const char *default_accept, char *ctype, char *atype,
                      size_t size)
{
    base_type(content_type && *content_type ? content_type : "application/json",
              ctype, size);
    pick_accept(accept, default_accept, atype, size);
}

void script_invoke(const char *content_type, const char *accept,
                   const void *body, size_t len, int *status, struct buf *out,
                   char *type, size_t size)
{
    char ctype[128], atype[128], msg[1024];
    PyObject *in = NULL, *data = NULL, *pred = NULL, *res = NULL;
    PyGILState_STATE g = PyGILState_Ensure();

    script_negotiate(content_type, accept, py.default_accept, ctype, atype,
                     sizeof(ctype));
    str_copy(type, atype, size);
    *status = 200;
    in = is_text(ctype) ? PyUnicode_DecodeUTF8(body, (Py_ssize_t)len, NULL)
                        : PyBytes_FromStringAndSize(body, (Py_ssize_t)len);
    if (!in)
        goto fail;
    if (py.transform_fn) {
        res = PyObject_CallFunction(py.transform_fn, "OOss", py.model, in,
                                    ctype, atype);
    } else {
        data = py.input_fn ? PyObject_CallFunction(py.input_fn, "Os", in, ctype)
                           : default_input(in, ctype, status);
        if (!data)
            goto fail;
        pred = py.predict_fn
                   ? PyObject_CallFunction(py.predict_fn, "OO", data, py.model)
                   : PyObject_CallMethod(py.model, "predict", "O", data);
        if (!pred)
            goto fail;
        res = py.output_fn
                  ? PyObject_CallFunction(py.output_fn, "Os", pred, atype)
                  : default_output(pred, atype, status);
    }
    if (!res || take_result(res, out, type, size) != 0)
        goto fail;
    goto out;
fail:
    buf_reset(out);
    str_copy(type, "text/plain", size);
    if (*status == 415) {
        buf_addf(out,
                 "Content type %s is not supported by this framework: "
                 "implement input_fn to deserialize the request data.",
                 ctype);
    } else if (*status == 406) {
        buf_addf(out,
                 "Accept %s is not supported by this framework: implement "
                 "output_fn to serialize the response.",
                 atype);
    } else {
        *status = 500;
        exception_text(msg, sizeof(msg));
        buf_adds(out, msg);
    }
out:
    Py_XDECREF(in);
    Py_XDECREF(data);
    Py_XDECREF(pred);
    Py_XDECREF(res);
    PyGILState_Release(g);
}
