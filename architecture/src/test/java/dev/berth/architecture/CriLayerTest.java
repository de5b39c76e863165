package dev.berth.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
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
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.berth");
    }

    @Test
    void theCriLayerStartsNoProcess() {
        noClasses().that().resideInAPackage(CRI_SERVER)
                .should().dependOnClassesThat().haveFullyQualifiedName(ProcessBuilder.class.getName())
                .orShould().callMethod(Runtime.class, "exec", String.class)
                .orShould().callMethod(Runtime.class, "exec", String[].class)
                .orShould().dependOnClassesThat().resideInAPackage("dev.berth.host..")
                .check(classes);
    }

    @Test
    void theCriLayerMountsNothing() {
        noClasses().that().resideInAPackage(CRI_SERVER)
                .should().dependOnClassesThat().haveFullyQualifiedName("dev.berth.podsandbox.container.ContainerRootfs")
                .check(classes);
    }

    @Test
    void theCriLayerWritesNoRecords() {
        noClasses().that().resideInAPackage(CRI_SERVER)
                .should().dependOnClassesThat().haveFullyQualifiedName("dev.berth.common.AtomicFiles")
                .orShould().dependOnClassesThat().haveSimpleNameEndingWith("Store")
                .check(classes);
    }

    @Test
    void onlyTheSocketBinderTouchesFiles() {
        noClasses().that().resideInAPackage(CRI_SERVER)
                .and().doNotHaveFullyQualifiedName("dev.berth.criserver.grpc.CriServer")
                .should().callMethodWhere(writesFiles())
                .check(classes);
    }

    private static DescribedPredicate<JavaMethodCall> writesFiles() {
        return DescribedPredicate.describe("a java.nio.file.Files method that writes, creates, moves or deletes",
                call -> call.getTargetOwner().getName().equals("java.nio.file.Files")
                        && call.getName().matches("write.*|create.*|move|copy|delete.*|set.*|newOutputStream|newBufferedWriter"));
    }
}
