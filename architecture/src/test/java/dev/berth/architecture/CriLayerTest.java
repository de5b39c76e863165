package dev.berth.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CRI server translates and delegates: it creates no mounts, no processes and no records
 * of its own. Those side effects belong to the runtime's domain, where they are rolled back and
 * recovered. Binding the socket (the server's own file) is the one thing it does on disk.
 */
class CriLayerTest {
    private static final String CRI_SERVER = "dev.berth.criserver..";
    private static JavaClasses classes;

    @BeforeAll
    static void importProductionClasses() {
        classes = ProductionClasses.get();
    }

    static final ArchRule STARTS_NO_PROCESS = noClasses().that().resideInAPackage(CRI_SERVER)
                .should().dependOnClassesThat().haveFullyQualifiedName(ProcessBuilder.class.getName())
                .orShould().callMethod(Runtime.class, "exec", String.class)
                .orShould().callMethod(Runtime.class, "exec", String[].class)
                .orShould().dependOnClassesThat().resideInAPackage("dev.berth.host..");

    static final ArchRule MOUNTS_NOTHING = noClasses().that().resideInAPackage(CRI_SERVER)
                .should().dependOnClassesThat().haveFullyQualifiedName("dev.berth.podsandbox.container.ContainerRootfs");

    static final ArchRule WRITES_NO_RECORDS = noClasses().that().resideInAPackage(CRI_SERVER)
                .should().dependOnClassesThat().haveFullyQualifiedName("dev.berth.common.AtomicFiles")
                .orShould().dependOnClassesThat().haveSimpleNameEndingWith("Store");

    static final ArchRule ONLY_THE_SOCKET_BINDER_TOUCHES_FILES = noClasses().that().resideInAPackage(CRI_SERVER)
                .and().doNotHaveFullyQualifiedName("dev.berth.criserver.grpc.CriServer")
                .should().callMethodWhere(writesFiles());

    @Test
    void theCriLayerStartsNoProcess() {
        STARTS_NO_PROCESS.check(classes);
    }

    @Test
    void theCriLayerMountsNothing() {
        MOUNTS_NOTHING.check(classes);
    }

    @Test
    void theCriLayerWritesNoRecords() {
        WRITES_NO_RECORDS.check(classes);
    }

    @Test
    void onlyTheSocketBinderTouchesFiles() {
        ONLY_THE_SOCKET_BINDER_TOUCHES_FILES.check(classes);
    }

    private static DescribedPredicate<JavaMethodCall> writesFiles() {
        return DescribedPredicate.describe("a java.nio.file.Files method that writes, creates, moves or deletes",
                call -> call.getTargetOwner().getName().equals("java.nio.file.Files")
                        && call.getName().matches("write.*|create.*|move|copy|delete.*|set.*|newOutputStream|newBufferedWriter"));
    }
}
