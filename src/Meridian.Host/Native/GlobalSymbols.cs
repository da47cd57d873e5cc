using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Meridian.Host.Native;

/// <summary>
/// Resolves every <c>libc</c> import of this assembly through the process's global symbol scope (the handle of
/// <c>dlopen(NULL)</c>), not through a handle of libc.so itself. A plain import binds straight to libc and so past any
/// interposer loaded with <c>LD_PRELOAD</c>; through the global scope the daemon's socket, poll and clock calls reach
/// libfaketime or chrony's clock and network simulator first, as a C daemon's calls do.
/// </summary>
internal static class GlobalSymbols
{
    public const string Libc = "libc";

#pragma warning disable CA2255 // The resolver must be in place before the first call of any type in the assembly.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => NativeLibrary.SetDllImportResolver(typeof(GlobalSymbols).Assembly, Resolve);

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Libc ? NativeLibrary.GetMainProgramHandle() : IntPtr.Zero;
}
