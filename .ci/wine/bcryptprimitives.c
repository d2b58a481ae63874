/*
 * bcryptprimitives.dll stub for running the Windows test suite under Wine 8.0.
 *
 * Why this exists: Rust's std (1.78 and later) draws its random numbers
 * (HashMap seeds, ...) from ProcessPrng, which it imports from
 * bcryptprimitives.dll. Wine 8.0 ships no bcryptprimitives.dll, so the
 * Windows loader fails on every Rust executable before main: the process
 * exits at once with status 53 and prints nothing. Wine 9.x implements
 * ProcessPrng itself; this stub is only for the CI image's Wine 8.0 and is
 * never shipped with bgjobs.
 *
 * .ci/windows-test builds it with mingw and copies it into the private Wine
 * prefix's system32, where the loader finds it (Wine has no builtin of that
 * name, so the native DLL is used).
 *
 * Real signature (learn.microsoft.com, "ProcessPrng function"):
 *     BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData);
 * It fills the buffer from the per-process PRNG and "always returns TRUE".
 * Here the bytes come from SystemFunction036 (RtlGenRandom) in advapi32,
 * which Wine implements on top of the host's random source. RtlGenRandom
 * takes a ULONG length, so large requests are filled in chunks. It does not
 * fail under Wine; if it ever did, FALSE is returned rather than handing
 * back an unfilled buffer as random data.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
    while (cbData > 0) {
        ULONG chunk = cbData > 0x40000000 ? 0x40000000 : (ULONG)cbData;
        if (!SystemFunction036(pbData, chunk))
            return FALSE;
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
