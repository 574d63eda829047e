/* The inspect's block work in the compiled kernel (included by _kernel.c). */

#define INSPECT_METHODS

static int
inspect_init(PyObject *module)
{
    return 0;
}
