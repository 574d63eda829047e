/* The report's block work in the compiled kernel (included by _kernel.c). */

#define REPORT_METHODS

static int
report_init(PyObject *module)
{
    return 0;
}
