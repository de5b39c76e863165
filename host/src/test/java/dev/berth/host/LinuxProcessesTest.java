package dev.berth.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** What /proc says of processes: the command line, argument by argument, and the pids that exist. */
class LinuxProcessesTest {
    @Test
    void theCommandLineOfAProcessIsItsArgumentsAndItsPidIsListed() throws Exception {
        // "a b": one argument with a space; ": " keeps the shell from exec'ing sleep in its place
        List<String> args = List.of("/bin/sh", "-c", "sleep 1000; :", "a b");
        Process p = Command.of(args).start();
        try {
            // the JDK's launcher runs before the exec: wait until the process is the shell
            LinuxProcesses procs = LinuxProcesses.INSTANCE;
            Optional<List<String>> argv = procs.commandLine(p.pid());
            for (int i = 0; i < 500 && !argv.map(a -> a.equals(args)).orElse(false); i++) {
                Thread.sleep(10);
                argv = procs.commandLine(p.pid());
            }
            assertEquals(Optional.of(args), argv);
            assertTrue(procs.pids().contains(p.pid()));
            assertTrue(procs.pids().contains(ProcessHandle.current().pid()));
        } finally {
            p.destroyForcibly().waitFor();
        }
        assertEquals(Optional.empty(), LinuxProcesses.INSTANCE.commandLine(-1));
    }
}
